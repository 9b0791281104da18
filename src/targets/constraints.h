// Which quantized schemes a target can execute: a scheme runs if one of the target's kernel families
// (TargetProfile::schemes) takes it. A refused scheme is reported with the violated rule and the nearest
// scheme the target does run, so `targets check --adapt` can rewrite a recipe.
#pragma once

#include <string>
#include <vector>

#include "model/kv_quant.h"
#include "quant/recipe.h"
#include "targets/target_profile.h"

namespace quantscope {

struct SchemeCheck {
  bool ok = true;
  std::string kernel;  // the kernel family that runs it (ok), or the closest one (refused)
  std::string rule;    // the violated rule, e.g. "group size 48 is not a multiple of 32 (WeightQuantBatchMatmulV2)"
  Scheme nearest;      // the closest scheme it runs (== the input when ok)
};

// `cols`: the tensor's input features K (a group size must not exceed it).
SchemeCheck check_scheme(const Scheme& s, int64_t cols, const TargetProfile& t);

struct KVCacheCheck {
  bool ok = true;
  std::string rule;
  KVCacheQuant nearest;  // bits 0 when the target quantizes no KV cache
};
KVCacheCheck check_kv_cache(const KVCacheQuant& kv, const TargetProfile& t);

struct TargetViolation {
  std::string tensor;  // canonical name, or "kv_cache"
  std::string rule;
  std::string nearest;  // describe() of the nearest supported scheme
};

// Every tensor of a resolved recipe plus its KV cache. Empty when the target runs all of it.
std::vector<TargetViolation> check_recipe(const std::vector<ResolvedTensor>& tensors, const KVCacheQuant& kv,
                                          const TargetProfile& t);

// Throws InputError naming the first refused tensor, the rule and the nearest scheme, and how many
// more there are (what every run under --target does before it starts).
void require_target_runs(const std::vector<ResolvedTensor>& tensors, const KVCacheQuant& kv, const TargetProfile& t);

// A recipe JSON whose default scheme and per-tensor overrides make every tensor the nearest scheme the
// target runs: the original recipe plus one exact-name override per refused tensor (and a rewritten
// kv_cache), so what changed is explicit. `changes` gets one line per rewrite.
nlohmann::json adapt_recipe(const Recipe& r, const std::vector<ResolvedTensor>& tensors, const TargetProfile& t,
                            std::vector<std::string>* changes);

}  // namespace quantscope
