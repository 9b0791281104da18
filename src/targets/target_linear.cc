#include "targets/target_linear.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/matmul.h"
#include "kernels/q8_activations.h"
#include "kernels/q8_blocks.h"
#include "numerics/float_formats.h"

namespace quantscope {

namespace {

float apply_deq_format(float deq, const std::string& format) {
  if (format == "fp19_truncate") return fp19_truncate(deq);
  if (format == "fp19_round") return fp19_round(deq);
  return deq;
}

}  // namespace

TargetLinear::TargetLinear(std::unique_ptr<Linear> q, const TargetProfile& t, DType activation_dtype)
    : owner_(std::move(q)), q_(dynamic_cast<const QuantizedLinear*>(owner_.get())), act_(activation_dtype) {
  if (!q_) fail_internal("TargetLinear wraps quantized linears only");
  const QuantizedWeight& w = q_->weight();
  const int64_t n = w.rows, k = w.cols;
  rounding_ = t.act_rounding_from_recipe ? q_->act().rounding : t.act_rounding;
  static_apply_ = t.act_static_apply;
  dynamic_apply_ = t.act_dynamic_apply;
  deq_format_ = act_ == DType::F16 ? t.deq_scale_f16_output : act_ == DType::BF16 ? t.deq_scale_bf16_output : "f32";
  block_ = q_->act().bits == 0 ? t.activation_block_quant : 0;
  if (block_ && w.group_size != block_)
    fail_internal("{}: block-quantized activations need weight groups of {} (got {})", q_->name(), block_, w.group_size);
  if (q_->act().bits && w.groups != 1)
    fail_internal("{}: integer pipelines take per-channel or per-tensor weight scales", q_->name());
  // Weight-only kernels hold scales in the target's dtype (the activation dtype on Ascend); the
  // integer pipelines' weight_scale is fp32 (msModelSlim, vLLM).
  const DType sd = q_->act().bits ? DType::F32 : t.weight_scale_dtype_for(act_, w.spec.scale_dtype);
  scales_ = w.scales;
  round_to_dtype(scales_.data(), int64_t(scales_.size()), sd, Overflow::ToInf);
  if (block_) {
    // llama.cpp's CPU path reads the packed codes in VNNI tiles (kernels/q8_blocks.h), 0.5 byte per
    // 4-bit weight: no widened copy of the matrix.
    tiled_ = pack_q8_weights(w.kernel_view(), scales_.data());
    dynamic_cast<QuantizedLinear&>(*owner_).release_packed_codes();  // the tiles are the only copy now
    return;
  }
  wi_.resize(size_t(n * k));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < k; ++c) {
      const GroupParams p = w.params(r, c / w.group_size);
      if (p.zero != std::floor(p.zero)) fail_internal("{}: zero point {} is not an integer", q_->name(), p.zero);
      wi_[size_t(r * k + c)] = int16_t(int(w.code(r, c)) - int(p.zero));
    }
}

std::string TargetLinear::describe() const { return q_->describe() + " (target pipeline)"; }

void TargetLinear::forward(const float* x, int64_t m, float* y) const {
  const int64_t k = in_features();
  std::vector<float> xs;
  if (!q_->smooth().empty()) {
    // The smoothing divisor is a vector op in the activation dtype before the matmul.
    xs.assign(x, x + m * k);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j) xs[size_t(i * k + j)] = round_to_dtype(xs[size_t(i * k + j)] / q_->smooth()[size_t(j)], act_);
    x = xs.data();
  }
  if (q_->act().bits) return forward_integer(x, m, y);
  if (block_) return forward_block_quant(x, m, y);
  forward_weight_only(x, m, y);
}

void TargetLinear::forward_weight_only(const float* x, int64_t m, float* y) const {
  const QuantizedWeight& w = q_->weight();
  const int64_t k = w.cols, gs = w.group_size;
  const std::vector<float>& bias = q_->bias();
  // (w - zero) * scale, rounded once into the activation dtype (the product of an integer of <= 8
  // bits and a 16-bit scale is exact in fp32, so this is the hardware's single rounding).
  matmul_rows(x, m, w.rows, k, nullptr,
              [&](int64_t j, float* out) {
                const int64_t sr = w.scale_rows == 1 ? 0 : j;
                for (int64_t c = 0; c < k; ++c)
                  out[c] = round_to_dtype(float(wi_[size_t(j * k + c)]) * scales_[size_t(sr * w.groups + c / gs)], act_);
              },
              bias.empty() ? nullptr : bias.data(), y);
}

void TargetLinear::forward_block_quant(const float* x, int64_t m, float* y) const {
  const int64_t n = out_features(), k = in_features();
  const std::vector<float>& bias = q_->bias();
  // Activations in 8-bit blocks of 32 with fp16 block scales, as llama.cpp's quantize_row_q8_0
  // (kernels/q8_activations.h); a row holding a non-finite value comes out NaN.
  thread_local Q8Activations act;  // reused: decode calls this per linear per token
  quantize_q8_activations(x, m, k, act);
  gemm_q8_blocks(act.rows(), tiled_, bias.empty() ? nullptr : bias.data(), y);
  for (int64_t i = 0; i < m; ++i)
    if (!act.finite[size_t(i)]) std::fill(y + i * n, y + (i + 1) * n, std::numeric_limits<float>::quiet_NaN());
}

bool TargetLinear::quantize_row(const float* x, int32_t* out, float* scale_out) const {
  const ActQuantSpec& a = q_->act();
  const int64_t k = in_features();
  const int qmax = (1 << (a.bits - 1)) - 1, qmin = -(1 << (a.bits - 1));
  for (int64_t c = 0; c < k; ++c)
    if (!std::isfinite(x[c])) return false;
  const bool is_static = a.granularity == ActGranularity::Tensor && a.calibrated;
  if (is_static) {
    // The unsigned zero point z of [0, 2^b) is the signed offset z - 2^(b-1) of [-2^(b-1), 2^(b-1)),
    // added BEFORE rounding as AscendQuant does; the integer that enters the product is q - offset.
    const float s = a.static_params.scale;
    const float offset = a.static_params.zero - float(1 << (a.bits - 1));
    const float inv = 1.0f / s;
    for (int64_t c = 0; c < k; ++c) {
      const float v = (static_apply_ == "multiply_reciprocal" ? x[c] * inv : x[c] / s) + offset;
      const float r = std::clamp(round_value(v, rounding_), float(qmin), float(qmax));
      out[c] = int32_t(r) - int32_t(offset);
    }
    *scale_out = s;
    return true;
  }
  float amax = 0;
  for (int64_t c = 0; c < k; ++c) amax = std::max(amax, std::fabs(x[c]));
  if (amax == 0.0f) {
    std::fill_n(out, k, 0);
    *scale_out = 0.0f;
    return true;
  }
  const float s = amax / float(qmax);
  const float inv = dynamic_apply_ == "multiply_qmax_over_absmax" ? float(qmax) / amax : 1.0f / s;
  for (int64_t c = 0; c < k; ++c) {
    const float v = dynamic_apply_ == "divide" ? x[c] / s : x[c] * inv;
    out[c] = int32_t(std::clamp(round_value(v, rounding_), float(qmin), float(qmax)));
  }
  *scale_out = s;
  return true;
}

void TargetLinear::forward_integer(const float* x, int64_t m, float* y) const {
  const QuantizedWeight& w = q_->weight();
  const int64_t n = w.rows, k = w.cols;
  const std::vector<float>& bias = q_->bias();
  const bool is_static = q_->act().granularity == ActGranularity::Tensor && q_->act().calibrated;
  parallel_for(0, m, [&](int64_t i) {
    std::vector<int32_t> q(static_cast<size_t>(k));
    float sx = 0;
    const bool ok = quantize_row(x + i * k, q.data(), &sx);
    for (int64_t j = 0; j < n; ++j) {
      if (!ok) {
        y[i * n + j] = std::numeric_limits<float>::quiet_NaN();
        continue;
      }
      int64_t acc = 0;  // exact (int32 on the hardware: |acc| <= 128 * 128 * K never overflows it here)
      const int16_t* wj = wi_.data() + j * k;
      for (int64_t c = 0; c < k; ++c) acc += int64_t(q[size_t(c)]) * wj[c];
      const float sw = scales_[size_t(w.scale_rows == 1 ? 0 : j)];
      if (is_static) {
        // deq_scale = input_scale * weight_scale (fp32), in the target's format; the bias enters the
        // integer accumulator as quant_bias = round(bias / deq_scale) (ascend-numerics.md §3, §10).
        const float deq = apply_deq_format(sx * sw, deq_format_);
        if (!bias.empty() && deq != 0.0f) acc += int64_t(std::nearbyint(bias[size_t(j)] / deq));
        y[i * n + j] = float(acc) * deq;
      } else {
        const float v = (float(acc) * sw) * sx;
        y[i * n + j] = bias.empty() ? v : v + bias[size_t(j)];
      }
    }
  }, n * k);
}

}  // namespace quantscope
