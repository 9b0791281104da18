#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/exp.h"
#include "kernels/isa.h"

namespace quantscope {

void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  float ss = 0.0f;
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const float inv = 1.0f / std::sqrt(ss / float(n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = (x[i] * inv) * weight[i];
}

void rope_rotate(float* v, int64_t head_dim, const float* cos_sin, bool interleaved) {
  const int64_t half = head_dim / 2;
  for (int64_t i = 0; i < half; ++i) {
    const float c = cos_sin[2 * i], s = cos_sin[2 * i + 1];
    const int64_t a = interleaved ? 2 * i : i;
    const int64_t b = interleaved ? 2 * i + 1 : i + half;
    const float x0 = v[a], x1 = v[b];
    v[a] = x0 * c - x1 * s;
    v[b] = x0 * s + x1 * c;
  }
}

void swiglu_scalar(float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    gate[i] = (g / (1.0f + exp_f32(-g))) * up[i];
  }
}

// One call per row of the MLP (6144 elements for openPangu-1B): in prefill ~4% of the time with
// glibc's scalar expf, and one of the serial pieces of every decode step.
void swiglu(float* gate, const float* up, int64_t n) {
  switch (active_isa()) {
    case Isa::Avx512: return detail::swiglu_avx512(gate, up, n);
    case Isa::Avx2: return detail::swiglu_avx2(gate, up, n);
    default: return swiglu_scalar(gate, up, n);
  }
}

void softmax(float* x, int64_t n) {
  float mx = x[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  const float sum = exp_shift_sum(x, mx, x, n);
  const float inv = 1.0f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

double log_softmax_at(const float* logits, int64_t n, int64_t target) {
  float mx = logits[0];
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, logits[i]);
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - double(mx));
  return double(logits[target]) - double(mx) - std::log(sum);
}

}  // namespace quantscope
