// GPTAQ (see gptaq.h). The update is GPTQ's (gptq.cc) plus  w_j += w_i * P[i][j]  for the columns j
// after the one being quantized; P is built here once per matrix, in GPTQ's column order.
#include "quant/gptaq.h"

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/syrk.h"

namespace quantscope {

void AsymmetricCrossTerm::add(const float* x_fp, const float* x_q, int64_t m) {
  // d[i][j] += (x_fp[t][i] - x_q[t][i]) * x_q[t][j] in token order, each element by one thread
  // (kernels/syrk.h: bit-identical for any thread count and ISA).
  accumulate_dxtx_f64(x_fp, x_q, m, k_, d_.data());
}

QuantizedWeight gptaq_quantize(const float* w, int64_t rows, int64_t cols, const Hessian& h,
                               const AsymmetricCrossTerm& cross, const WeightQuantSpec& spec, const GptqParams& params,
                               double alpha, GptqStats* stats) {
  if (cross.k() != cols) fail_internal("gptaq: cross term is {}x{} but K = {}", cross.k(), cross.k(), cols);
  const int64_t n = cols;
  auto correction = [&](const std::vector<int64_t>& perm, const std::vector<float>& u) {
    // D in the quantization order; T = triu(D U^T, 1): T[i][k] = sum_m D[i][m] U[k][m] for k > i
    // (U is upper triangular, so m runs from k). P = alpha * T U, strictly upper triangular as well.
    const double* d = cross.data();
    std::vector<double> t(size_t(n * n), 0.0);
    parallel_for(0, n, [&](int64_t i) {
      const double* di = d + perm[size_t(i)] * n;
      for (int64_t k = i + 1; k < n; ++k) {
        const float* uk = u.data() + k * n;
        double s = 0;
        for (int64_t m = k; m < n; ++m) s += di[perm[size_t(m)]] * double(uk[m]);
        t[size_t(i * n + k)] = s;
      }
    }, n * n);
    std::vector<float> p(size_t(n * n), 0.0f);
    parallel_for(0, n, [&](int64_t i) {
      std::vector<double> row(size_t(n), 0.0);
      for (int64_t k = i + 1; k < n; ++k) {
        const double tik = t[size_t(i * n + k)];
        if (tik == 0.0) continue;
        const float* uk = u.data() + k * n;
        for (int64_t j = k; j < n; ++j) row[size_t(j)] += tik * double(uk[j]);
      }
      for (int64_t j = i + 1; j < n; ++j) p[size_t(i * n + j)] = float(alpha * row[size_t(j)]);
    }, n * n);
    return p;
  };
  return gptq_quantize_with_correction(w, rows, cols, h, spec, params, correction, stats);
}

}  // namespace quantscope
