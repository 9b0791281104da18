#include "kernels/attention_blocks.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/dot.h"
#include "kernels/isa.h"
#include "kernels/vec.h"

namespace quantscope {

void attention_scores_loops(const float* q, int64_t ldq, int nt, const float* keys, int64_t ldk, int64_t hd,
                            const int64_t* len, float* scores, int64_t lds) {
  for (int t = 0; t < nt; ++t) std::fill_n(scores + t * lds, len[t], 0.0f);
  for (int64_t d = 0; d < hd; ++d)
    for (int t = 0; t < nt; ++t) fma_axpy(q[t * ldq + d], keys + d * ldk, scores + t * lds, len[t]);
}

void attention_values_loops(const float* probs, int64_t ldp, int nt, const float* values, int64_t ldv, int64_t hd,
                            const int64_t* len, float* out, int64_t ldo) {
  for (int64_t d = 0; d < hd; ++d)
    for (int t = 0; t < nt; ++t) out[t * ldo + d] = dot_f32(probs + t * ldp, values + d * ldv, len[t]);
}

namespace {
void check_block_rows(int nt) {
  if (nt < 0 || nt > kAttnBlockRows)
    fail_internal("attention: {} positions in a block (at most {})", nt, kAttnBlockRows);
}
}  // namespace

void attention_scores(const float* q, int64_t ldq, int nt, const float* keys, int64_t ldk, int64_t hd,
                      const int64_t* len, float* scores, int64_t lds) {
  check_block_rows(nt);
  if (nt == 0) return;
  if (active_isa() == Isa::Avx512) return detail::attention_scores_avx512(q, ldq, nt, keys, ldk, hd, len, scores, lds);
  attention_scores_loops(q, ldq, nt, keys, ldk, hd, len, scores, lds);
}

void attention_values(const float* probs, int64_t ldp, int nt, const float* values, int64_t ldv, int64_t hd,
                      const int64_t* len, float* out, int64_t ldo) {
  check_block_rows(nt);
  if (nt == 0) return;
  if (active_isa() == Isa::Avx512)
    return detail::attention_values_avx512(probs, ldp, nt, values, ldv, hd, len, out, ldo);
  attention_values_loops(probs, ldp, nt, values, ldv, hd, len, out, ldo);
}

}  // namespace quantscope
