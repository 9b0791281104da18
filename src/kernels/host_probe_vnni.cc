// Host probe int8 kernel for AVX-512 VNNI (vpdpbusd; called only when the CPU has avx512vnni).
// No inline functions of shared headers are instantiated here (see dot_avx512.cc).
#include <immintrin.h>

#include "kernels/host_probe.h"

namespace quantscope::detail {

int64_t int8_peak_vnni(int64_t iters, const uint8_t* a, const int8_t* b, const int32_t* init, int32_t* out) {
  constexpr int K = kInt8AccumulatorsVnni;
  __m512i va = _mm512_loadu_si512(a);
  const __m512i vb = _mm512_loadu_si512(b);
  __m512i acc[K];
#pragma GCC unroll 12
  for (int k = 0; k < K; ++k) acc[k] = _mm512_loadu_si512(init + 16 * k);
  int64_t macs = 0;
  for (int64_t it = 0; it < iters; ++it) {
    // Says va may have changed: keeps the compiler from treating the products as loop-invariant.
    asm volatile("" : "+v"(va));
#pragma GCC unroll 12
    for (int k = 0; k < K; ++k) acc[k] = _mm512_dpbusd_epi32(acc[k], va, vb);  // 16 lanes x 4 MACs
    macs += K * 16 * 4;
  }
#pragma GCC unroll 12
  for (int k = 0; k < K; ++k) _mm512_storeu_si512(out + 16 * k, acc[k]);
  return macs;
}

}  // namespace quantscope::detail
