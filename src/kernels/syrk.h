// Calibration statistics in double: H += x^T x (GPTQ's Hessian) and D += (a - b)^T b (GPTAQ's
// asymmetric term), register-blocked and multithreaded, BIT-IDENTICAL to these plain loops for any
// thread count and on every ISA (scalar / AVX2 / AVX-512):
//
//   xtx:  for t = 0 .. m-1 in order:  h[i*k + j] += double(x[t*k+i]) * double(x[t*k+j])
//   dxtx: for t = 0 .. m-1 in order:  d[i*k + j] += (double(a[t*k+i]) - double(b[t*k+i])) * double(b[t*k+j])
//
// Each element is one chain of additions in token order, computed whole by one thread. In xtx the
// product of two floats is exact in double, so the kernels use one FMA per term (the same bits). In
// dxtx the difference is rounded to double first and the product is rounded before it is added
// (separate multiply and add, never contracted): exactly the loop above, whatever the operands.
//
// Every token is added, also where x[t][i] == 0 (the loops before these kernels skipped those): for
// finite inputs that gives the same bits (an element starts at +0.0, and adding +-0.0 never changes
// it nor makes it -0.0). Non-finite inputs propagate: an Inf or NaN in token t makes every element of
// its row and column non-finite (0 * Inf = NaN), symmetrically; which NaN bit pattern results may
// differ between ISAs. Calibration inputs are finite (a NaN there is a bug upstream).
#pragma once

#include <cstdint>

namespace quantscope {

// h [k, k] row-major: the lower triangle (j <= i) += x^T x, x [m, k] row-major. The strict upper
// triangle is not touched.
void accumulate_xtx_lower_f64(const float* x, int64_t m, int64_t k, double* h);

// h [k, k] row-major, symmetric: the lower triangle as above, then the strict upper triangle is
// overwritten with the new lower values (h[j][i] = h[i][j]): H += x^T x for a symmetric H, bit for
// bit the full plain loop when h is symmetric on entry (the products are commutative and exact).
void accumulate_xtx_f64(const float* x, int64_t m, int64_t k, double* h);

// d [k, k] row-major, every element: d += (a - b)^T b, with a, b [m, k] row-major.
void accumulate_dxtx_f64(const float* a, const float* b, int64_t m, int64_t k, double* d);

namespace detail {
// Packed operands: the columns of x in panels of 8; panel p holds x[t][8p .. 8p+8) as 8 doubles for
// each token t of the chunk (zero beyond k); panels `ps` doubles apart, 64-byte aligned.
constexpr int kSyrkPanel = 8;
// One register tile of the result: rows i0 .. i0+R (R = 8 on AVX-512, 4 on AVX2 and scalar), row r's
// value of token t at pa[t*8 + r]; columns j0 .. j0+8*np from np consecutive panels starting at pb.
// Row r updates its first ncols[r] columns only (0: the row is skipped); h points at element (i0, j0).
// fma: one FMA per term (exact products); otherwise a rounded product, then the add. With ht (element
// (j0, i0)), the tile's final values are also stored transposed: h[i0+r][j0+c] to ht[c*ldh + r] for
// c < tcols[r] (the mirror of a symmetric result).
struct SyrkTile {
  const double* pa;
  const double* pb;
  int64_t ps, n;
  double* h;
  int64_t ldh;
  int ncols[8];
  double* ht;
  int tcols[8];
  int np;
  bool fma;
};
void syrk_tile_avx512(const SyrkTile& tile);
void syrk_tile_avx2(const SyrkTile& tile);
// Tests: tokens per packed chunk (0: automatic, from k). The result does not depend on it.
void set_syrk_chunk_tokens(int64_t n);
}  // namespace detail

}  // namespace quantscope
