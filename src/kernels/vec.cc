#include "kernels/vec.h"

#include <cmath>

#include "kernels/isa.h"

namespace quantscope {

void fma_axpy(float a, const float* x, float* y, int64_t n) {
  switch (active_isa()) {
    case Isa::Avx512: return detail::fma_axpy_avx512(a, x, y, n);
    case Isa::Avx2: return detail::fma_axpy_avx2(a, x, y, n);
    default:
      for (int64_t i = 0; i < n; ++i) y[i] = std::fma(a, x[i], y[i]);
  }
}

}  // namespace quantscope
