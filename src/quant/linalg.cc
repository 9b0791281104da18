#include "quant/linalg.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/parallel.h"

namespace quantscope {

namespace {

// Dot product of doubles with 8 independent partial sums combined in a fixed order: the compiler can
// keep them in vector registers (the strict serial sum it could not), and the result does not depend
// on how it does so.
double dot_d(const double* a, const double* b, int64_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) s[l] += a[i + l] * b[i + l];
  for (; i < n; ++i) s[i & 7] += a[i] * b[i];
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

}  // namespace

bool cholesky_lower(double* a, int64_t n) {
  // Row-oriented (left-looking): L[i][j] = (A[i][j] - L[i][:j] . L[j][:j]) / L[j][j]; both prefixes are
  // contiguous rows. Columns go in blocks of kBlock: the block's own rows first (serially), then every
  // row below it finishes the block's columns in order on one thread, so a parallel region spans a
  // block rather than a column (one region per column starves under oversubscription) and every
  // element gets the same arithmetic as the unblocked loop.
  constexpr int64_t kBlock = 64;
  for (int64_t j0 = 0; j0 < n; j0 += kBlock) {
    const int64_t j1 = std::min(n, j0 + kBlock);
    for (int64_t j = j0; j < j1; ++j) {
      double* aj = a + j * n;
      for (int64_t p = j0; p < j; ++p) aj[p] = (aj[p] - dot_d(aj, a + p * n, p)) / a[p * n + p];
      const double d = aj[j] - dot_d(aj, aj, j);
      if (!(d > 0.0) || !std::isfinite(d)) return false;
      aj[j] = std::sqrt(d);
    }
    parallel_for(j1, n, [&](int64_t i) {
      double* ai = a + i * n;
      for (int64_t j = j0; j < j1; ++j) ai[j] = (ai[j] - dot_d(ai, a + j * n, j)) / a[j * n + j];
    }, 2 * j1 * (j1 - j0) + 8);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) a[i * n + j] = 0.0;
  return true;
}

bool invert_lower_triangular(const double* l, int64_t n, double* x) {
  // Forward substitution L X = I, one panel of kPanel columns of X at a time (panels are independent).
  // Row i of a panel: X[i][c] = (I[i][c] - sum_{k<i} L[i][k] X[k][c]) / L[i][i], summed in k order, so
  // every element has one fixed arithmetic. The panel's rows are packed contiguously (kPanel doubles
  // each, small enough to stay in cache: n * 128 bytes), so each L row is read once per panel and the
  // inner loop over the panel's columns vectorizes. Panels near the left cost the most (the triangle
  // below them is larger), hence the uneven-work loop.
  constexpr int64_t kPanel = 16;
  const int64_t panels = (n + kPanel - 1) / kPanel;
  std::atomic<bool> finite{true};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = i + 1; j < n; ++j) x[i * n + j] = 0.0;
  parallel_for_uneven(0, panels, [&](int64_t p) {
    const int64_t j0 = p * kPanel, width = std::min(kPanel, n - j0);
    std::vector<double> panel(size_t((n - j0) * kPanel), 0.0);
    for (int64_t i = j0; i < n; ++i) {
      double acc[kPanel] = {};
      if (i - j0 < width) acc[i - j0] = 1.0;
      const double* li = l + i * n;
      for (int64_t k = j0; k < i; ++k) {
        const double lik = li[k];
        const double* xk = panel.data() + (k - j0) * kPanel;
        for (int64_t c = 0; c < kPanel; ++c) acc[c] -= lik * xk[c];
      }
      double* xi = panel.data() + (i - j0) * kPanel;
      for (int64_t c = 0; c < kPanel; ++c) xi[c] = acc[c] / li[i];
      for (int64_t c = 0; c < width; ++c) {
        if (!std::isfinite(xi[c])) finite = false;
        if (j0 + c <= i) x[i * n + j0 + c] = xi[c];
      }
    }
  }, n * n * kPanel / 2);
  return finite;
}

bool inverse_cholesky_upper(std::vector<double> h, int64_t n, std::vector<double>* u) {
  // With R the index reversal (R H R reverses rows and columns): if R H R = L L^T, then
  // H^-1 = R L^-T L^-1 R = (R L^-T R)(R L^-1 R) = U^T U with U = R L^-1 R upper triangular with a
  // positive diagonal: the upper Cholesky factor of H^-1 from ONE Cholesky and one triangular inverse
  // (n^3/3 + n^3/6 multiply-adds), never forming H^-1.
  std::vector<double> a(size_t(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) a[size_t(i * n + j)] = h[size_t((n - 1 - i) * n + (n - 1 - j))];
  h.clear();
  h.shrink_to_fit();
  if (!cholesky_lower(a.data(), n)) return false;
  std::vector<double> x(size_t(n * n));
  if (!invert_lower_triangular(a.data(), n, x.data())) return false;
  // U[r][c] = X[n-1-r][n-1-c] (zero below the diagonal, as X is zero above it).
  u->resize(size_t(n * n));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < n; ++c) (*u)[size_t(r * n + c)] = x[size_t((n - 1 - r) * n + (n - 1 - c))];
  return true;
}

}  // namespace quantscope
