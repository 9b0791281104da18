// AWQ (see awq.h for the reference and the conventions). Implementation notes:
//  - Every loss is a sum of quadratic forms e^T A e over rows, A = H or one of its diagonal blocks.
//    Rows are processed in tiles of kTile rows: the tile's error vectors are stored interleaved
//    (e[j * kTile + t] for row t of the tile), so one pass over A's lower triangle serves kTile rows
//    (A is read once per tile instead of once per row: H is 512 MB at K = 8192, far beyond cache)
//    and the inner loop is kTile independent multiply-adds the compiler can vectorise. Using the
//    symmetry of A halves the work: e^T A e = sum_i e_i (A_ii e_i + 2 sum_{j<i} A_ij e_j).
//  - Each row's sum is accumulated by one lane in a fixed (i, j) order, whatever tile or thread it
//    runs in (tiles are fixed by row index), and row sums are added in row order afterwards, so
//    results are bit-identical for any thread count.
//  - Nothing may throw across the OpenMP region (that would terminate the program): work items catch
//    and the first error (lowest item index, so deterministic) is rethrown after the loop.
#include "quant/awq.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>

#include "core/error.h"
#include "core/parallel.h"

namespace quantscope {

namespace {

constexpr int kTile = 8;  // rows per quadratic-form pass

// out[t] = sum_{i, j < n} a[i * lda + j] * e[i * kTile + t] * e[j * kTile + t] for t < kTile, reading
// only the lower triangle of the (symmetric) n x n block a.
void tile_quad_forms(const double* a, int64_t lda, int64_t n, const double* e, double* out) {
  double tot[kTile] = {};
  for (int64_t i = 0; i < n; ++i) {
    const double* ai = a + i * lda;
    const double* ei = e + i * kTile;
    double acc[kTile] = {};
    for (int64_t j = 0; j < i; ++j) {
      const double aij = ai[j];
      const double* ej = e + j * kTile;
      for (int t = 0; t < kTile; ++t) acc[t] += aij * ej[t];
    }
    for (int t = 0; t < kTile; ++t) tot[t] += ei[t] * (2.0 * acc[t] + ai[i] * ei[t]);
  }
  for (int t = 0; t < kTile; ++t) out[t] = tot[t];
}

int64_t num_tiles(int64_t rows) { return (rows + kTile - 1) / kTile; }

// Keeps the exception of the lowest work item so a failing parallel loop reports deterministically.
class FirstError {
 public:
  void capture(int64_t item) {
    std::lock_guard<std::mutex> lock(mu_);
    if (item < item_) {
      item_ = item;
      error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mu_;
  int64_t item_ = std::numeric_limits<int64_t>::max();
  std::exception_ptr error_;
};

void check_hessian(const Hessian& h, int64_t K, const char* where) {
  if (K <= 0) fail_internal("{}: K = {} must be positive", where, K);
  if (h.k() != K) fail_internal("{}: Hessian is {}x{} but K = {}", where, h.k(), h.k(), K);
}

// Per-row output errors (w - w_hat)^T H (w - w_hat) of one matrix w [rows, K] under scales s, with
// w_hat = dequant(quantize_weight(W diag(s), spec)) / s. Writes row_loss[0 .. rows).
void scaled_rtn_row_losses(const float* w, int64_t rows, int64_t K, const Hessian& h, const std::vector<float>& s,
                           const WeightQuantSpec& spec, double* row_loss) {
  // Channel and group params depend on one row only, so quantizing a tile of rows gives the same bits
  // as quantizing the whole matrix; the one tensor scale needs the whole scaled matrix first.
  const bool tensor = spec.granularity == Granularity::Tensor;
  QuantizedWeight whole;
  if (tensor) {
    std::vector<float> ws(size_t(rows * K));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < K; ++j) ws[size_t(r * K + j)] = w[r * K + j] * s[size_t(j)];
    whole = quantize_weight(ws.data(), rows, K, spec);
  }
  FirstError err;
  parallel_for(0, num_tiles(rows), [&](int64_t tile) {
    try {
      const int64_t r0 = tile * kTile, nr = std::min<int64_t>(kTile, rows - r0);
      std::vector<float> deq(size_t(nr * K));
      if (tensor) {
        for (int64_t i = 0; i < nr; ++i) whole.dequantize_row(r0 + i, deq.data() + i * K);
      } else {
        std::vector<float> ws(size_t(nr * K));
        for (int64_t i = 0; i < nr; ++i)
          for (int64_t j = 0; j < K; ++j) ws[size_t(i * K + j)] = w[(r0 + i) * K + j] * s[size_t(j)];
        const QuantizedWeight q = quantize_weight(ws.data(), nr, K, spec);
        for (int64_t i = 0; i < nr; ++i) q.dequantize_row(i, deq.data() + i * K);
      }
      std::vector<double> e(size_t(K * kTile), 0.0);  // padding lanes stay 0
      for (int64_t i = 0; i < nr; ++i)
        for (int64_t j = 0; j < K; ++j)
          e[size_t(j * kTile + i)] = double(w[(r0 + i) * K + j]) - double(deq[size_t(i * K + j)]) / double(s[size_t(j)]);
      double out[kTile];
      tile_quad_forms(h.data(), K, K, e.data(), out);
      for (int64_t i = 0; i < nr; ++i) row_loss[r0 + i] = out[i];
    } catch (...) {
      err.capture(tile);
    }
  }, int64_t(kTile) * K * K);
  err.rethrow();
}

void check_finite(const float* w, int64_t n, const char* where) {
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(w[i])) fail_input("{}: cannot quantize a non-finite weight ({}) at index {}", where, w[i], i);
}

// The quantizer's range of n values: [min(w, 0), max(w, 0)] (params_from_range widens to 0 as well).
void group_range(const float* w, int64_t n, float* lo, float* hi) {
  float l = 0.0f, u = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    l = std::min(l, w[i]);
    u = std::max(u, w[i]);
  }
  *lo = l;
  *hi = u;
}

}  // namespace

std::vector<float> awq_scales_for_alpha(const std::vector<double>& mean_abs_x, double alpha) {
  if (!std::isfinite(alpha)) fail_input("awq: alpha {} is not finite", alpha);
  double min_pos = std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < mean_abs_x.size(); ++j) {
    const double m = mean_abs_x[j];
    if (!std::isfinite(m) || m < 0.0) fail_input("awq: mean |x| of input channel {} is {} (must be finite, >= 0)", j, m);
    if (m > 0.0) min_pos = std::min(min_pos, m);
  }
  const size_t K = mean_abs_x.size();
  // No live channel: nothing to protect, and H = 0 makes every scale equally good.
  if (!std::isfinite(min_pos)) return std::vector<float>(K, 1.0f);
  std::vector<double> v(K);
  double mx = 0.0, mn = std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < K; ++j) {
    const double base = mean_abs_x[j] > 0.0 ? mean_abs_x[j] : min_pos;
    v[j] = alpha == 0.0 ? 1.0 : std::pow(base, alpha);
    mx = std::max(mx, v[j]);
    mn = std::min(mn, v[j]);
  }
  // sqrt(mx * mn) without overflowing the product.
  const double norm = std::sqrt(mx) * std::sqrt(mn);
  std::vector<float> s(K);
  for (size_t j = 0; j < K; ++j) {
    // Only a ratio max/min mean beyond ~2^252 could leave the positive normal fp32 range.
    s[j] = std::clamp(float(v[j] / norm), std::numeric_limits<float>::min(), std::numeric_limits<float>::max());
  }
  return s;
}

AwqScaleResult awq_search_scales(const std::vector<const float*>& mats, const std::vector<int64_t>& rows, int64_t K,
                                 const Hessian& h, const std::vector<double>& mean_abs_x, const WeightQuantSpec& spec,
                                 const AwqParams& p) {
  check_hessian(h, K, "awq_search_scales");
  if (mats.size() != rows.size())
    fail_internal("awq_search_scales: {} matrices but {} row counts", mats.size(), rows.size());
  if (int64_t(mean_abs_x.size()) != K)
    fail_internal("awq_search_scales: mean |x| has {} channels but K = {}", mean_abs_x.size(), K);
  if (p.grid < 1) fail_input("awq: grid must be >= 1 (got {})", p.grid);
  // The scale search compares plain round-to-nearest (as the paper does); clipping comes afterwards.
  WeightQuantSpec rtn = spec;
  rtn.clip_search = false;
  validate_weight_spec(rtn, "awq_search_scales");
  int64_t max_rows = 0;
  for (size_t m = 0; m < mats.size(); ++m) {
    if (rows[m] < 0) fail_internal("awq_search_scales: matrix {} has {} rows", m, rows[m]);
    check_finite(mats[m], rows[m] * K, "awq_search_scales");
    max_rows = std::max(max_rows, rows[m]);
  }

  AwqScaleResult res;
  res.losses.assign(size_t(p.grid), 0.0);
  std::vector<double> row_loss(static_cast<size_t>(max_rows));
  for (int a = 0; a < p.grid; ++a) {
    const double alpha = double(a) / double(p.grid);
    std::vector<float> s = awq_scales_for_alpha(mean_abs_x, alpha);
    double loss = 0.0;
    for (size_t m = 0; m < mats.size(); ++m) {
      scaled_rtn_row_losses(mats[m], rows[m], K, h, s, rtn, row_loss.data());
      for (int64_t r = 0; r < rows[m]; ++r) loss += row_loss[size_t(r)];
    }
    res.losses[size_t(a)] = loss;
    // Strict improvement only: ties keep the smaller alpha (alpha 0 = RTN first of all).
    if (a == 0 || loss < res.loss_best) {
      res.loss_best = loss;
      res.alpha = alpha;
      res.scales = std::move(s);
    }
    if (a == 0) res.loss_identity = loss;
  }
  return res;
}

QuantizedWeight awq_quantize(const float* w_scaled, int64_t rows, int64_t K, const Hessian& h,
                             const std::vector<float>& scales, const WeightQuantSpec& spec, const AwqParams& p) {
  validate_weight_spec(spec, "awq_quantize");
  check_hessian(h, K, "awq_quantize");
  if (int64_t(scales.size()) != K) fail_internal("awq_quantize: {} scales but K = {}", scales.size(), K);
  for (int64_t j = 0; j < K; ++j)
    if (!(scales[size_t(j)] > 0.0f) || !std::isfinite(scales[size_t(j)]))
      fail_input("awq_quantize: scale of input channel {} is {} (must be finite, > 0)", j, scales[size_t(j)]);
  // Sign binarisation's level is mean |w|, not a range, so there is nothing to clip.
  if (!p.clip || (spec.symmetric && spec.bits == 1)) return quantize_weight(w_scaled, rows, K, spec);
  if (p.clip_grid < 1 || !(p.clip_max_shrink > 0.0 && p.clip_max_shrink < 1.0))
    fail_input("awq: clip search needs clip_grid >= 1 and 0 < clip_max_shrink < 1 (got {}, {})", p.clip_grid,
               p.clip_max_shrink);
  check_finite(w_scaled, rows * K, "awq_quantize");

  // The same ratios, in the same float arithmetic, as the quantizer's own clip search.
  const int n_ratios = std::max(1, int(p.clip_max_shrink * p.clip_grid));
  std::vector<float> ratios(static_cast<size_t>(n_ratios));
  for (int i = 0; i < n_ratios; ++i) ratios[size_t(i)] = float(1.0 - double(i) / double(p.clip_grid));

  QuantizedWeight q = QuantizedWeight::layout(rows, K, spec);
  if (rows == 0) return q;
  FirstError err;

  if (spec.granularity == Granularity::Tensor) {
    // One group: the whole matrix; its partial output is the whole output.
    float lo, hi;
    group_range(w_scaled, rows * K, &lo, &hi);
    GroupParams best = params_from_range(lo, hi, spec);
    if (best.scale != 0.0f) {
      std::vector<double> row_loss(static_cast<size_t>(rows));
      double best_loss = 0.0;
      for (int i = 0; i < n_ratios; ++i) {
        const GroupParams cand = i == 0 ? best : params_from_range(lo * ratios[size_t(i)], hi * ratios[size_t(i)], spec);
        parallel_for(0, num_tiles(rows), [&](int64_t tile) {
          try {
            const int64_t r0 = tile * kTile, nr = std::min<int64_t>(kTile, rows - r0);
            std::vector<double> e(size_t(K * kTile), 0.0);
            for (int64_t t = 0; t < nr; ++t) {
              const float* wr = w_scaled + (r0 + t) * K;
              for (int64_t j = 0; j < K; ++j)
                e[size_t(j * kTile + t)] =
                    (double(wr[j]) - double(fake_quantize(wr[j], cand, spec))) / double(scales[size_t(j)]);
            }
            double out[kTile];
            tile_quad_forms(h.data(), K, K, e.data(), out);
            for (int64_t t = 0; t < nr; ++t) row_loss[size_t(r0 + t)] = out[t];
          } catch (...) {
            err.capture(tile);
          }
        }, int64_t(kTile) * K * K);
        err.rethrow();
        double loss = 0.0;
        for (int64_t r = 0; r < rows; ++r) loss += row_loss[size_t(r)];
        if (i == 0 || loss < best_loss) {  // ties keep the larger ratio
          best_loss = loss;
          best = cand;
        }
      }
    }
    q.set_params(0, 0, best);
    for (int64_t k = 0; k < rows * K; ++k) q.set_code(k / K, k % K, quantize_code(w_scaled[k], best, spec));
    return q;
  }

  // Channel (one group of K columns per row) and group granularity: each (row, group) on its own.
  const int64_t gs = q.group_size, G = q.groups;
  parallel_for(0, num_tiles(rows), [&](int64_t tile) {
    try {
      const int64_t r0 = tile * kTile, nr = std::min<int64_t>(kTile, rows - r0);
      std::vector<double> e(size_t(gs * kTile));
      for (int64_t g = 0; g < G; ++g) {
        const int64_t c0 = g * gs, c1 = std::min(K, c0 + gs), n = c1 - c0;
        float lo[kTile], hi[kTile];
        GroupParams best[kTile], cand[kTile];
        double best_loss[kTile] = {};
        bool live[kTile] = {};
        bool any = false;
        for (int64_t t = 0; t < nr; ++t) {
          group_range(w_scaled + (r0 + t) * K + c0, n, &lo[t], &hi[t]);
          best[t] = params_from_range(lo[t], hi[t], spec);
          live[t] = best[t].scale != 0.0f;  // a zero group has nothing to clip
          any = any || live[t];
        }
        for (int i = 0; any && i < n_ratios; ++i) {
          const float ratio = ratios[size_t(i)];
          for (int64_t t = 0; t < nr; ++t)
            if (live[t]) cand[t] = i == 0 ? best[t] : params_from_range(lo[t] * ratio, hi[t] * ratio, spec);
          std::fill(e.begin(), e.end(), 0.0);
          for (int64_t t = 0; t < nr; ++t) {
            if (!live[t]) continue;
            const float* wr = w_scaled + (r0 + t) * K;
            for (int64_t j = c0; j < c1; ++j)
              e[size_t((j - c0) * kTile + t)] =
                  (double(wr[j]) - double(fake_quantize(wr[j], cand[t], spec))) / double(scales[size_t(j)]);
          }
          double out[kTile];
          tile_quad_forms(h.data() + c0 * K + c0, K, n, e.data(), out);
          for (int64_t t = 0; t < nr; ++t) {
            if (live[t] && (i == 0 || out[t] < best_loss[t])) {  // ties keep the larger ratio
              best_loss[t] = out[t];
              best[t] = cand[t];
            }
          }
        }
        for (int64_t t = 0; t < nr; ++t) {
          const int64_t r = r0 + t;
          q.set_params(r, g, best[t]);
          for (int64_t j = c0; j < c1; ++j) q.set_code(r, j, quantize_code(w_scaled[r * K + j], best[t], spec));
        }
      }
    } catch (...) {
      err.capture(tile);
    }
  }, int64_t(kTile) * K * gs * n_ratios);
  err.rethrow();
  return q;
}

}  // namespace quantscope
