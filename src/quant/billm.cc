// BiLLM (see billm.h for the reference and what is simulated).
#include "quant/billm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/parallel.h"
#include "quant/gptq.h"
#include "quant/linalg.h"

namespace quantscope {

namespace {
inline float sgn(float v) { return v >= 0.0f ? 1.0f : -1.0f; }
}  // namespace

float binarize_sign(const float* w, int64_t n, float* q) {
  if (n <= 0) return 0.0f;
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::fabs(w[i]);
  const float a = float(s / double(n));
  for (int64_t i = 0; i < n; ++i) q[i] = a * sgn(w[i]);
  return a;
}

void binarize_residual(const float* w, int64_t n, float* q) {
  if (n <= 0) return;
  binarize_sign(w, n, q);
  std::vector<float> r(static_cast<size_t>(n)), q2(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) r[size_t(i)] = w[i] - q[i];
  binarize_sign(r.data(), n, q2.data());
  for (int64_t i = 0; i < n; ++i) q[i] += q2[size_t(i)];
}

float binarize_split(const float* w, int64_t n, float* q) {
  if (n <= 0) return 0.0f;
  std::vector<double> a(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) a[size_t(i)] = std::fabs(w[i]);
  std::sort(a.begin(), a.end());
  std::vector<double> s1(static_cast<size_t>(n) + 1, 0.0), s2(static_cast<size_t>(n) + 1, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    s1[size_t(i) + 1] = s1[size_t(i)] + a[size_t(i)];
    s2[size_t(i) + 1] = s2[size_t(i)] + a[size_t(i)] * a[size_t(i)];
  }
  // err(t) with groups a[0, t) and a[t, n): sum of squares minus (sum)^2 / count of each group.
  auto err = [&](int64_t t) {
    double e = 0;
    if (t > 0) e += s2[size_t(t)] - s1[size_t(t)] * s1[size_t(t)] / double(t);
    if (t < n) {
      const double c1 = s1[size_t(n)] - s1[size_t(t)], c2 = s2[size_t(n)] - s2[size_t(t)];
      e += c2 - c1 * c1 / double(n - t);
    }
    return e;
  };
  int64_t best = n;  // t = n: one group (plain sign binarization)
  double best_e = err(n);
  for (int64_t t = 1; t < n; ++t) {
    if (a[size_t(t)] == a[size_t(t) - 1]) continue;  // a split must separate distinct magnitudes
    const double e = err(t);
    if (e < best_e) best_e = e, best = t;
  }
  const double p = a[size_t(best) - 1];
  double sc = 0, ss = 0;
  int64_t nc = 0, ns = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double m = std::fabs(w[i]);
    if (m <= p) sc += m, ++nc;
    else ss += m, ++ns;
  }
  const float ac = nc ? float(sc / double(nc)) : 0.0f, as = ns ? float(ss / double(ns)) : 0.0f;
  for (int64_t i = 0; i < n; ++i) q[i] = sgn(w[i]) * (std::fabs(w[i]) <= p ? ac : as);
  return float(p);
}

std::vector<double> inverse_hessian_upper(const Hessian& h, double damp, std::vector<bool>* dead) {
  const int64_t n = h.k();
  std::vector<double> base(h.data(), h.data() + n * n);
  std::vector<bool> d(static_cast<size_t>(n), false);
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (base[size_t(i * n + i)] == 0.0) {
      d[size_t(i)] = true;
      base[size_t(i * n + i)] = 1.0;
    }
    mean += base[size_t(i * n + i)];
  }
  mean /= double(n);
  if (dead) *dead = d;
  for (int attempt = 0; attempt < 8; ++attempt, damp *= 10) {
    std::vector<double> a = base;
    for (int64_t i = 0; i < n; ++i) a[size_t(i * n + i)] += damp * mean;
    std::vector<double> u;
    if (!inverse_cholesky_upper(std::move(a), n, &u)) continue;
    return u;
  }
  fail_input("inverse Hessian: H + damp I is not positive definite even with damping raised 10^7x");
}

SimulatedQuant billm_quantize(const float* w0, int64_t rows, int64_t cols, const Hessian& h, const BillmParams& prm) {
  if (h.k() != cols) fail_internal("billm: Hessian is {}x{} but the weight has {} columns", h.k(), h.k(), cols);
  std::vector<bool> dead;
  const std::vector<double> u = inverse_hessian_upper(h, prm.damp, &dead);
  std::vector<float> w(w0, w0 + rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      if (dead[size_t(c)]) w[size_t(r * cols + c)] = 0.0f;
  std::vector<float> q(size_t(rows * cols), 0.0f);
  const int64_t bs = std::max<int64_t>(1, prm.block_size);
  int64_t salient_weights = 0, bitmap_bits = 0;

  for (int64_t c0 = 0; c0 < cols; c0 += bs) {
    const int64_t c1 = std::min(cols, c0 + bs), nb = c1 - c0;
    bitmap_bits += nb;  // one salient flag per column of the block
    // Column salience and order.
    std::vector<double> sal(static_cast<size_t>(nb), 0.0);
    for (int64_t j = 0; j < nb; ++j) {
      const double d = u[size_t((c0 + j) * cols + c0 + j)];
      double s = 0;
      for (int64_t r = 0; r < rows; ++r) s += double(w[size_t(r * cols + c0 + j)]) * w[size_t(r * cols + c0 + j)];
      sal[size_t(j)] = s / (d * d);
    }
    std::vector<int64_t> order(static_cast<size_t>(nb));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return sal[size_t(a)] > sal[size_t(b)]; });
    // Binarizes the block with the top k columns salient; returns the squared error, fills bq [rows, nb].
    auto binarize_block = [&](int64_t k, std::vector<float>* bq) {
      std::vector<bool> is_sal(static_cast<size_t>(nb), false);
      for (int64_t i = 0; i < k; ++i) is_sal[size_t(order[size_t(i)])] = true;
      bq->assign(size_t(rows * nb), 0.0f);
      std::vector<double> errs(static_cast<size_t>(rows), 0.0);
      parallel_for(0, rows, [&](int64_t r) {
        std::vector<float> sv, nv, sq, nq;
        for (int64_t j = 0; j < nb; ++j)
          (is_sal[size_t(j)] ? sv : nv).push_back(w[size_t(r * cols + c0 + j)]);
        sq.resize(sv.size());
        nq.resize(nv.size());
        binarize_residual(sv.data(), int64_t(sv.size()), sq.data());
        binarize_split(nv.data(), int64_t(nv.size()), nq.data());
        size_t is = 0, in = 0;
        double e = 0;
        for (int64_t j = 0; j < nb; ++j) {
          const float v = is_sal[size_t(j)] ? sq[is++] : nq[in++];
          (*bq)[size_t(r * nb + j)] = v;
          const double d = double(w[size_t(r * cols + c0 + j)]) - v;
          e += d * d;
        }
        errs[size_t(r)] = e;
      }, nb * 8);
      double e = 0;
      for (double x : errs) e += x;
      return e;
    };
    std::vector<float> best_q, cand;
    double best_e = binarize_block(0, &best_q);
    int64_t best_k = 0;
    for (int64_t k = 1; k <= std::max<int64_t>(1, nb / 8); k *= 2) {  // at most 1/8 of the columns salient
      const double e = binarize_block(k, &cand);
      if (e < best_e) best_e = e, best_k = k, best_q.swap(cand);
    }
    salient_weights += best_k * rows;
    // Error compensation: each column's error spread over the later columns (OBC / GPTQ update).
    parallel_for(0, rows, [&](int64_t r) {
      float* wr = w.data() + r * cols;
      for (int64_t j = 0; j < nb; ++j) {
        const int64_t c = c0 + j;
        const float qv = best_q[size_t(r * nb + j)];
        q[size_t(r * cols + c)] = dead[size_t(c)] ? 0.0f : qv;
        if (!prm.compensate) continue;
        const double e = (double(wr[c]) - qv) / u[size_t(c * cols + c)];
        const double* ur = u.data() + c * cols;
        // The block's binarized values are fixed already; updating the block's later columns only makes
        // their errors (and so what reaches later blocks) the exact sequential OBS errors.
        for (int64_t cc = c + 1; cc < cols; ++cc) wr[cc] -= float(e * ur[cc]);
      }
    }, cols * 4);
  }

  SimulatedQuant out;
  out.dequantized = std::move(q);
  const double n = double(rows * cols);
  out.bits_per_weight = (n + double(salient_weights) + double(bitmap_bits)) / n;
  out.code_bits_per_weight = (n + double(salient_weights)) / n;
  const int64_t blocks = (cols + bs - 1) / bs;
  const double extra = (n - double(salient_weights) + double(rows * blocks * 4 * 16)) / n;
  out.note = fmt::format("billm simulated storage: {:.3f} bpw as the paper counts (sign + residual sign of {:.1f}% "
                         "salient + column bitmap); +{:.3f} bpw for split-group bits and fp16 scales",
                         out.bits_per_weight, 100.0 * double(salient_weights) / n, extra);
  return out;
}

}  // namespace quantscope
