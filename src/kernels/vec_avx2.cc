// Compiled with -mavx2 -mfma; no inline functions of shared headers are used here.
#include <immintrin.h>

#include "kernels/vec.h"

namespace quantscope::detail {

void fma_axpy_avx2(float a, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(a);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
  for (; i < n; ++i) y[i] = __builtin_fmaf(a, x[i], y[i]);
}

}  // namespace quantscope::detail
