// Element-wise and per-row operations of the decoder: RMSNorm, RoPE, SwiGLU, softmax. Each has a
// fixed evaluation order (sequential sums) so results do not depend on threads.
#pragma once

#include <cstdint>

namespace quantscope {

// out[i] = x[i] * (1 / sqrt(mean(x^2) + eps)) * weight[i]; the mean is a sequential fp32 sum.
// weight is fp32 (norm weights are widened once at load).
void rms_norm(const float* x, const float* weight, int64_t n, float eps, float* out);

// Rotates one head vector in place at position `pos`.
//   interleaved: pairs (2i, 2i+1) (llama2.c / GGUF), half_split: pairs (i, i + d/2) (HF rotate_half).
// cos_sin: [d/2] pairs (cos, sin) precomputed for this position (see RopeTable).
void rope_rotate(float* v, int64_t head_dim, const float* cos_sin, bool interleaved);

// gate[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)), computed as (g / (1 + exp_f32(-g))) * up[i]
// (kernels/exp.h: the same bits on every ISA, within 2 ulp of exp), on the active ISA.
void swiglu(float* gate, const float* up, int64_t n);
void swiglu_scalar(float* gate, const float* up, int64_t n);  // the reference the SIMD versions match
namespace detail {
void swiglu_avx2(float* gate, const float* up, int64_t n);
void swiglu_avx512(float* gate, const float* up, int64_t n);
}  // namespace detail

// In-place softmax of x[0..n): max-subtracted, sequential sum.
void softmax(float* x, int64_t n);

// log-softmax value of entry `target` of logits[0..n): logits[target] - max - log(sum exp(l - max)),
// accumulated in double for accuracy (this is the scoring path of every perplexity).
double log_softmax_at(const float* logits, int64_t n, int64_t target);

}  // namespace quantscope
