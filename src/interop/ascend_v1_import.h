// AscendV1 directory -> quantscope quantized directory (quant/quantized_model.h), which every command
// loads (ppl, eval, logits with --target). Translating the files, rather than teaching the model loader
// a second quantized format, keeps one binding path for quantized models and keeps the quant layer
// free of deployment formats.
//   W8A16/W4A16   codes c = w + 2^(b-1), zero z = offset + 2^(b-1) (symmetric when every offset is 0),
//                 scales as stored; [n,1] per channel, [n,G] per group of k/G
//   W8A8          per-channel symmetric codes and weight_scale (deq_scale must equal input_scale *
//                 weight_scale: checked); static activations: scale = input_scale, unsigned zero =
//                 input_offset + 128; the bias is the FLOAT bias (quant_bias must agree with it: checked)
//   W8A8_DYNAMIC  per-channel symmetric codes; per-token dynamic activations
//   C8            per-channel int8 KV cache with kv_cache_scale
// quantscope's own metadata (scale dtype, rounding rule) is restored when the file was written by us;
// otherwise the defaults are msModelSlim's: fp32 scales, round half to even.
#pragma once

#include <string>
#include <vector>

namespace quantscope {

struct AscendV1ImportResult {
  std::string model_quant_type;
  int quantized_linears = 0, float_linears = 0;
  bool kv_c8 = false;
  std::vector<std::string> notes;
};

// Refuses (InputError) a directory with any inconsistency (interop/ascend_v1_check.h), naming it.
// Writes out_dir through a staging directory and checks it loads before renaming it into place.
AscendV1ImportResult import_ascend_v1(const std::string& dir, const std::string& out_dir, bool force);

}  // namespace quantscope
