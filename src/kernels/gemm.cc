#include "kernels/gemm.h"

#include <algorithm>

#include "core/parallel.h"
#include "kernels/dot.h"
#include "kernels/isa.h"

namespace quantscope {

namespace {
constexpr int64_t kPanelBytes = 384 << 10;  // b panel kept in L2 (1 MiB per core on Zen 4)
constexpr int64_t kTileRows = 64;          // rows of a per parallel work item
}  // namespace

int64_t gemm_panel_rows(int64_t k) {
  const int64_t rows = kPanelBytes / (4 * std::max<int64_t>(k, 1));
  return std::clamp<int64_t>(rows / 16 * 16, 16, 256);
}

void gemm_nt_f32_serial(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k,
                        float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  switch (active_isa()) {
    case Isa::Avx512: return detail::gemm_nt_f32_avx512(a, lda, b, ldb, m, n, k, c, ldc);
    case Isa::Avx2: return detail::gemm_nt_f32_avx2(a, lda, b, ldb, m, n, k, c, ldc);
    default:
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = dot_f32_scalar(a + i * lda, b + j * ldb, k);
  }
}

void gemm_nt_f32(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k, float* c,
                 int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  // Work items: (panel of b rows) x (block of a rows), panel-major, so that a thread's contiguous
  // range of items walks few panels and each panel stays in its L2 while the rows of a go by.
  const int64_t nc = gemm_panel_rows(k), mc = kTileRows;
  const int64_t npanels = (n + nc - 1) / nc, nblocks = (m + mc - 1) / mc;
  const int64_t cost = 2 * std::min(m, mc) * std::min(n, nc) * std::max<int64_t>(k, 1);
  parallel_blocks(npanels * nblocks, [&](int, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t j0 = t / nblocks * nc, i0 = t % nblocks * mc;
      const int64_t nj = std::min(nc, n - j0), ni = std::min(mc, m - i0);
      gemm_nt_f32_serial(a + i0 * lda, lda, b + j0 * ldb, ldb, ni, nj, k, c + i0 * ldc + j0, ldc);
    }
  }, cost);
}

}  // namespace quantscope
