// The AscendV1 (msModelSlim) export formulas, one function each, so the exporter, the importer's
// consistency checks and the golden tests share them (ascend-numerics.md §3, §10):
//   deq_scale[n]  = input_scale * weight_scale[n]                        fp32 product
//   quant_bias[n] = round(bias[n] / deq_scale[n] - sum_k Wq[n,k] * input_offset)   int32
// The second term of quant_bias is an integer, so it is computed exactly in integers and the one
// rounding (half to even, torch.round) applies to bias / deq_scale in fp32 — the same fp32 quotient
// targets/target_linear.cc folds into its accumulator, so an exported quant_bias is exactly the
// integer the ascend-910b1 emulation adds.
#pragma once

#include <cstdint>
#include <vector>

namespace quantscope {

float ascend_deq_scale(float input_scale, float weight_scale);
// round(bias / deq) - row_sum * input_offset; row_sum = sum_k Wq[n,k] (signed int8 weights),
// input_offset the signed integer offset. deq == 0 (an all-zero channel) contributes no bias term,
// as the emulation does. InputError-free: callers check the int32 range with ascend_fits_int32.
int64_t ascend_quant_bias(float bias, float deq, int64_t row_sum, int32_t input_offset);
bool ascend_fits_int32(int64_t v);

// deq_scale as int64 for fp16 models (example/deqscale2int64.py): the fp32 bit pattern in the low 32
// bits, upper bits zero (the NPU's TransQuantParam adds its own flag bits at load).
int64_t ascend_deq_scale_to_int64(float deq);
// Inverse; false when the upper 32 bits are not zero (not a packed fp32 pattern).
bool ascend_deq_scale_from_int64(int64_t v, float* deq);

}  // namespace quantscope
