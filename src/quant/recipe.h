// Recipes: mixed precision by hand. A JSON document
//   {
//     "default": {"method": "gptq", "w_bits": 4, "granularity": "group", "group_size": 32},
//     "overrides": [
//       {"match": "attention", "scheme": {"w_bits": 8, "granularity": "channel"}},
//       {"match": ["lm_head", "embedding"], "scheme": {"method": "none"}},
//       {"match": "mlp_down", "layers": [0], "scheme": {"w_bits": 8}}
//     ]
//   }
// Every weight matrix of the registry (the linears, lm_head, the embedding) gets the default scheme,
// then each override that matches it, in order, sets the fields it names (later overrides win).
// A match pattern is one of (a list means any of them):
//   a role name from the registry: attn_q attn_k attn_v attn_o mlp_gate mlp_up mlp_down lm_head embedding
//   a role group: "attention", "mlp", "linear" (every per-layer linear), "all"
//   a layer selector: "layers.N" (every tensor of layer N)
//   otherwise a glob over canonical names ("model.layers.*.mlp.*", '*' and '?' cross dots)
// plus optional "layers": N or [N, ...] that the tensor's layer must also be in.
// The embedding and lm_head default to full precision unless an override quantizes them
// (embedding quantization is not implemented: asking for it is an error).
//
// Scheme fields (all optional in overrides):
//   method        none | rtn | gptq | awq | smoothquant | gptaq | billm | slim_llm
//   w_bits 1..8, granularity tensor|channel|group, group_size, symmetric, rounding half_to_even |
//   half_away_from_zero, scale_dtype f32|f16|bf16, clip_search, clip_grid, clip_max_shrink,
//   group_size_over_k "error" | "channel" (what to do where group_size > K),
//   a_bits 0|4|8, a_granularity token|tensor, a_range minmax|percentile, a_percentile (50, 100],
//   gptq and gptaq: damp, act_order, static_groups; gptaq: alpha (weight of the asymmetric term, 0.25);
//   smoothquant: alpha (migration strength, 0.5); awq: awq_grid (scale search points, 20), awq_clip (true).
// A top-level "kv_cache": {"bits": 8|4, "granularity": "token"|"channel", "rounding": ...} quantizes the
// KV cache (model/kv_quant.h).
// Unknown fields and impossible schemes are InputErrors naming the recipe file and the JSON path.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "model/kv_quant.h"
#include "model/registry.h"
#include "quant/quantized_linear.h"
#include "quant/quantizer.h"

namespace quantscope {

enum class QuantMethod { None, Rtn, Gptq, Awq, SmoothQuant, Gptaq, BiLLM, SlimLlm };
std::string_view method_name(QuantMethod m);
bool method_from_name(std::string_view s, QuantMethod* out);
bool method_implemented(QuantMethod m);
// AWQ, BiLLM, SliM-LLM quantize weights only (a_bits with them is an error).
bool method_is_weight_only(QuantMethod m);
// AWQ and SmoothQuant scale the input channels (x / s) and the weight columns (W * s).
bool method_smooths_input(QuantMethod m);
bool method_uses_gptq_params(QuantMethod m);  // gptq, gptaq
// Methods that need calibration data (activations through the forward pass).
bool method_needs_calibration(QuantMethod m);

// GPTQ (Frantar et al. 2022) parameters.
struct GptqParams {
  double damp = 0.01;        // fraction of the mean Hessian diagonal added to the diagonal
  bool act_order = false;    // quantize columns in decreasing Hessian-diagonal order
  bool static_groups = false;  // group params from the original weights before any update
};

enum class ActRange { MinMax, Percentile };

struct Scheme {
  QuantMethod method = QuantMethod::Rtn;
  WeightQuantSpec weight;
  ActQuantSpec act;
  ActRange a_range = ActRange::MinMax;
  double a_percentile = 99.99;
  bool group_fallback_channel = false;  // group_size_over_k: "channel"
  GptqParams gptq;
  double gptaq_alpha = 0.25;  // GPTAQ: weight of the asymmetric-calibration term
  double sq_alpha = 0.5;      // SmoothQuant: migration strength
  int awq_grid = 20;          // AWQ: points of the scale exponent search
  bool awq_clip = true;       // AWQ: clipping search after scaling

  bool quantized() const { return method != QuantMethod::None; }
  std::string describe() const;  // "gptq w4 g32 asym", "none"
  nlohmann::json to_json() const;
};

struct RecipeOverride {
  std::vector<std::string> match;
  std::vector<int> layers;  // empty: any layer
  nlohmann::json scheme;    // the fields it sets
  std::string path;         // "overrides[2]"
};

struct Recipe {
  std::string source;  // file name for messages
  nlohmann::json json;
  Scheme default_scheme;
  std::vector<RecipeOverride> overrides;
  KVCacheQuant kv_cache;  // off unless the recipe has "kv_cache"
};

Recipe parse_recipe(const std::string& text, const std::string& source);
Recipe read_recipe(const std::string& path);

// The scheme of one weight matrix of the registry.
struct ResolvedTensor {
  TensorSpec spec;
  Scheme scheme;
  std::vector<std::string> set_by;  // "default", "overrides[1]", ...
  int64_t rows() const { return spec.shape[0]; }
  int64_t cols() const { return spec.shape[1]; }
  // Bits per weight of the stored form (16 or 32 for unquantized, by the checkpoint dtype).
  double bits_per_weight(DType full_dtype) const;
  uint64_t bytes(DType full_dtype) const;
};

// Resolves every weight matrix (per-layer linears, lm_head when stored or tied, the embedding) in
// registry order. Throws InputError for impossible schemes (naming the tensor and what set it) and for
// patterns that match no tensor.
std::vector<ResolvedTensor> resolve_recipe(const Recipe& r, const std::vector<TensorSpec>& registry);

// True if `pattern` (one entry of "match") selects `t`.
bool recipe_pattern_matches(const std::string& pattern, const TensorSpec& t);

}  // namespace quantscope
