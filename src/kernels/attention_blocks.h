// The two products of causal attention for a block of up to kAttnBlockRows consecutive query
// positions of one head, register-blocked so that each key / value chunk loaded is used by every
// position of the block. The arithmetic of each element is FIXED and is that of the plain loops
// written beside them (so logits do not depend on the ISA, the block size or the thread count):
//   scores: s[t][p] = fma(q[t][hd-1], K[hd-1][p], ... fma(q[t][1], K[1][p], fma(q[t][0], K[0][p], 0)))
//           i.e. fma_axpy(q[t][d], K[d], s[t]) for d = 0, 1, ... in order (vec.h);
//   values: o[t][d] = dot_f32(p[t], V[d], len[t])   (dot.h's fixed lanes and reduction tree).
// K and V are the cache's transposed rows: K[d] holds dimension d of every position.
#pragma once

#include <cstdint>

namespace quantscope {

constexpr int kAttnBlockRows = 4;

// For t < nt (<= kAttnBlockRows) and p < len[t]: scores[t * lds + p] as above, from q[t * ldq + d]
// (d < hd) and keys[d * ldk + p]. Writes nothing past len[t] in each row.
void attention_scores(const float* q, int64_t ldq, int nt, const float* keys, int64_t ldk, int64_t hd,
                      const int64_t* len, float* scores, int64_t lds);

// For t < nt (<= kAttnBlockRows) and d < hd: out[t * ldo + d] = dot_f32(probs + t * ldp, values + d * ldv, len[t]).
void attention_values(const float* probs, int64_t ldp, int nt, const float* values, int64_t ldv, int64_t hd,
                      const int64_t* len, float* out, int64_t ldo);

// The plain loops (the reference the tests hold every ISA to, and the path without AVX-512).
void attention_scores_loops(const float* q, int64_t ldq, int nt, const float* keys, int64_t ldk, int64_t hd,
                            const int64_t* len, float* scores, int64_t lds);
void attention_values_loops(const float* probs, int64_t ldp, int nt, const float* values, int64_t ldv, int64_t hd,
                            const int64_t* len, float* out, int64_t ldo);

namespace detail {
void attention_scores_avx512(const float* q, int64_t ldq, int nt, const float* keys, int64_t ldk, int64_t hd,
                             const int64_t* len, float* scores, int64_t lds);
void attention_values_avx512(const float* probs, int64_t ldp, int nt, const float* values, int64_t ldv, int64_t hd,
                             const int64_t* len, float* out, int64_t ldo);
}  // namespace detail

}  // namespace quantscope
