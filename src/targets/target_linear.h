// A quantized linear run the way a target's kernels run it (ascend-numerics.md §5, §6, §7, §10), in
// place of QuantizedLinear's host arithmetic (fake-quantized activations times dequantized weights):
//   weight-only (W8A16/W4A16):  scales rounded to the target's scale dtype; each weight dequantized into
//                               the activation dtype, (w - zero) * scale rounded there; fp32 accumulation.
//   llama.cpp (activation_block_quant = 32): activations quantized to 8 bits per block of 32
//                               (d = amax/127 stored as fp16, q = round-half-away(x * (1/d))); each block's
//                               exact integer dot times (d_x * d_w) summed in fp32 in block order.
//   W8A8 / W4A8 / W4A4, static per-tensor: q = sat(round(x * (1/s) + offset)) (or x / s + offset);
//                               exact integer accumulation of (q - offset)(w - zero); y = acc * deq with
//                               deq = s_x * s_w in fp32, FP19-truncated on Ascend's fp16-output path;
//                               bias folded into the integer accumulator as quant_bias = round(b / deq).
//   dynamic per-token:          s_t = amax_t / qmax; q = round(x * (qmax / amax_t)) (or x * (1/s_t), x / s_t);
//                               y = (acc * s_w) * s_t in fp32, bias added after.
// The output is rounded to the activation dtype by the forward pass (it stores every linear output).
#pragma once

#include <memory>
#include <vector>

#include "kernels/q8_blocks.h"
#include "model/linear.h"
#include "quant/quantized_linear.h"
#include "targets/target_profile.h"

namespace quantscope {

class TargetLinear final : public Linear {
 public:
  // `q` must be a QuantizedLinear (kept and owned); `t` must run its scheme (constraints.h).
  TargetLinear(std::unique_ptr<Linear> q, const TargetProfile& t, DType activation_dtype);
  int64_t in_features() const override { return q_->in_features(); }
  int64_t out_features() const override { return q_->out_features(); }
  void forward(const float* x, int64_t m, float* y) const override;
  uint64_t weight_bytes() const override { return q_->weight_bytes(); }
  std::string describe() const override;

 private:
  void forward_weight_only(const float* x, int64_t m, float* y) const;
  void forward_block_quant(const float* x, int64_t m, float* y) const;
  void forward_integer(const float* x, int64_t m, float* y) const;
  // Quantizes one row of k activations to integers (q - offset) with the target's rules; returns false
  // (row left unset) when it holds a NaN. scale_out: the row's scale (per-token) or the static one.
  bool quantize_row(const float* x, int32_t* out, float* scale_out) const;

  std::unique_ptr<Linear> owner_;
  const QuantizedLinear* q_;
  DType act_;
  Rounding rounding_;
  std::string static_apply_, dynamic_apply_, deq_format_;
  int64_t block_ = 0;
  std::vector<int16_t> wi_;      // [n, k] integer weights w - zero (not for block-quantized activations)
  Q8TiledWeights tiled_;         // block-quantized activations: the codes in VNNI tiles
  std::vector<float> scales_;    // [scale_rows, groups], rounded to the target's weight scale dtype
};

}  // namespace quantscope
