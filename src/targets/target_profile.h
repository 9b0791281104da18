// A hardware target as data: which dtypes, quantized schemes and scale formats a deployment stack
// offers, how it rounds, and its roofline figures. Loaded from targets/NAME.json (embedded in the
// binary at build time, or any file given by path); every field's source is recorded beside it in
// the file's "sources" object. The rules themselves live in src/numerics/; code asks the profile,
// never "if (ascend)". Facts: ../shared/reference/ascend-numerics.md (§ numbers in the JSON sources).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "numerics/rounding.h"

namespace quantscope {

// One family of quantized matmul kernels a target has, e.g. Ascend's WeightQuantBatchMatmulV2
// (weight-only int4/int8) or QuantBatchMatmul with per-token activations (W8A8_DYNAMIC).
struct KernelScheme {
  std::string name;                 // "W8A8_DYNAMIC (npu_dynamic_quant + npu_quant_matmul)"
  std::vector<int> w_bits;          // weight bit widths the kernel takes
  int a_bits = 0;                   // 0: weight-only (activations stay in the activation dtype)
  std::vector<std::string> granularity;  // of the weights: "tensor", "channel", "group"
  int64_t group_multiple = 1;       // group sizes must be multiples of this ...
  int64_t group_min = 1;            // ... and at least this
  std::vector<int64_t> group_sizes;  // if not empty: the only group sizes (e.g. llama.cpp blocks of 32)
  bool symmetric_only = false;      // weights must be symmetric (no zero point)
  std::vector<std::string> activation;  // a_bits > 0: "token" (dynamic per token), "tensor" (static)
  bool activation_symmetric_only = false;  // static per-tensor activations must have no offset
};

struct KVCacheRule {
  int bits = 0;               // 8 or 4
  std::string granularity;    // "channel" or "token"
};

// Roofline figures (units in the names). Peaks are dense (no sparsity).
struct Roofline {
  double memory_bandwidth_gb_s = 0;  // GB/s (1e9 bytes/s) of device memory
  double matmul_tflops = 0;          // fp16/bf16 matmul peak (fp32 FMA peak on a CPU target), TFLOP/s
  double int8_tops = 0;              // int8 dot-product peak, TOP/s (0: none)
  double int4_tops = 0;              // int4 peak, TOP/s (0: none; int4 then runs at the int8 rate)
  double memory_gib = 0;             // device memory capacity, GiB
};

struct TargetProfile {
  std::string name;         // "ascend-910b1"
  std::string description;
  std::string file;         // where it was loaded from (messages)

  // Dtypes activations can be stored in, and the one a model runs in by default (310P: no bf16, so a
  // bf16-trained model runs in fp16 there).
  std::vector<DType> activation_dtypes;
  DType activation_dtype = DType::F32;
  // Accumulator of floating-point matmuls (f32 everywhere but consumer kernels that pick f16).
  DType float_accumulation = DType::F32;

  // How activations are quantized: the rounding rule ("recipe": the recipe's own rule, on the host),
  // how a static per-tensor scale is applied ("multiply_reciprocal": x * (1/s) with 1/s computed once
  // in fp32; "divide": x / s), how a dynamic per-token (or per-block) scale is applied
  // ("multiply_qmax_over_absmax": x * (qmax / absmax); "multiply_reciprocal_of_scale": s = absmax / qmax,
  // then x * (1/s), as llama.cpp; "divide": x / s), and Ascend's fp32 -> int32 -> half -> int8 path.
  Rounding act_rounding = Rounding::HalfToEven;
  bool act_rounding_from_recipe = false;
  std::string act_static_apply = "divide";
  std::string act_dynamic_apply = "divide";
  bool act_int8_via_half = false;
  // Format of the W8A8 dequant scale applied to the int32 accumulator, by output dtype:
  // "f32", or "fp19_truncate" / "fp19_round" (Ascend Fixpipe, fp16 output).
  std::string deq_scale_f16_output = "f32";
  std::string deq_scale_bf16_output = "f32";
  // Weight-only group/channel scales are held in this dtype: "f32", "f16", "bf16", "activation" (the
  // model's activation dtype, as Ascend's antiquantScale) or "recipe" (the recipe's scale_dtype, host).
  std::string weight_scale_dtype = "f32";
  // llama.cpp: activations of every quantized matmul are themselves quantized to 8-bit blocks of 32.
  int64_t activation_block_quant = 0;

  std::vector<KernelScheme> schemes;
  std::vector<KVCacheRule> kv_cache;
  bool any_scheme = false;  // the host: runs every scheme quantscope implements (its own kernels)

  Roofline roofline;
  std::map<std::string, std::string> sources;  // field -> "C: ... / V: ... / D: ... / measured: ..."

  // The dtype weight-only scales are held in, given the activation dtype and the recipe's scale dtype.
  DType weight_scale_dtype_for(DType act, DType recipe_scale_dtype) const;
};

// Parses a profile; InputError naming `source` and the JSON path on anything missing, unknown or
// out of range, and when a field lacks its entry in "sources".
TargetProfile parse_target_profile(const std::string& text, const std::string& source);

// The built-in targets (targets/*.json compiled in), by name in file order.
const std::vector<std::string>& builtin_target_names();
// A built-in target by name, or a profile file by path (anything containing '/' or ending in .json).
// InputError listing the known names otherwise.
TargetProfile load_target(const std::string& name_or_path);

}  // namespace quantscope
