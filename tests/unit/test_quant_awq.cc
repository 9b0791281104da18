// AWQ (src/quant/awq.h): the scale formula by hand, the scale search against explicit matmuls of
// generated activations, alpha = 0 as exact RTN, the clipping search against an independent brute
// force, ragged groups / zero rows / dead input channels, and the folding convention W diag(s), x / s.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "quant/awq.h"
#include "quant/calibration.h"
#include "quant/quantizer.h"

namespace quantscope {
namespace {

WeightQuantSpec spec(int bits, Granularity g, bool sym, int64_t gs = 0) {
  WeightQuantSpec s;
  s.bits = bits;
  s.granularity = g;
  s.symmetric = sym;
  s.group_size = gs;
  return s;
}

// Activations x [n, k]: N(0, 1) per value, channels in `outliers` multiplied by `factor` (so their mean
// |x| is `factor` times the others'), channels in `dead` always 0.
std::vector<float> make_acts(int64_t n, int64_t k, const std::vector<int64_t>& outliers, float factor, uint32_t seed,
                             const std::vector<int64_t>& dead = {}) {
  std::vector<float> c(size_t(k), 1.0f);
  for (int64_t j : outliers) c[size_t(j)] = factor;
  for (int64_t j : dead) c[size_t(j)] = 0.0f;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(size_t(n * k));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < k; ++j) x[size_t(t * k + j)] = nd(rng) * c[size_t(j)];
  return x;
}

std::vector<double> mean_abs(const std::vector<float>& x, int64_t n, int64_t k) {
  std::vector<double> m(size_t(k), 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t j = 0; j < k; ++j) m[size_t(j)] += std::fabs(double(x[size_t(t * k + j)]));
  for (double& v : m) v /= double(n);
  return m;
}

// N(0, 1) weights; with `heavy` > 0 a fraction `heavy` of them is multiplied by 8 (heavy tails, which
// make range clipping worthwhile).
std::vector<float> make_weights(int64_t n, uint32_t seed, double heavy = 0.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> w(static_cast<size_t>(n));
  for (float& v : w) {
    v = nd(rng);
    if (heavy > 0.0 && u(rng) < heavy) v *= 8.0f;
  }
  return w;
}

Hessian hessian_of(const std::vector<float>& x, int64_t n, int64_t k) {
  Hessian h(k);
  h.add(x.data(), n);
  return h;
}

// W diag(s) in fp32, as a caller folding the scales would form it.
std::vector<float> scale_columns(const float* w, int64_t rows, int64_t k, const std::vector<float>& s) {
  std::vector<float> o(size_t(rows * k));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) o[size_t(r * k + j)] = w[r * k + j] * s[size_t(j)];
  return o;
}

// The effective fp weight of a quantized W diag(s): dequant / s (double).
std::vector<double> unscaled(const QuantizedWeight& q, const std::vector<float>& s) {
  const std::vector<float> d = q.dequantize();
  std::vector<double> o(d.size());
  for (int64_t r = 0; r < q.rows; ++r)
    for (int64_t j = 0; j < q.cols; ++j) o[size_t(r * q.cols + j)] = double(d[size_t(r * q.cols + j)]) / double(s[size_t(j)]);
  return o;
}

// sum_r (a_r - b_r)^T H_block (a_r - b_r) over columns [c0, c1) with the full (not triangular) double loop.
double h_loss(const std::vector<double>& a, const std::vector<double>& b, int64_t rows, int64_t k, const Hessian& h,
              int64_t c0 = 0, int64_t c1 = -1) {
  if (c1 < 0) c1 = k;
  double loss = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = c0; i < c1; ++i) {
      const double di = a[size_t(r * k + i)] - b[size_t(r * k + i)];
      for (int64_t j = c0; j < c1; ++j) loss += di * h.at(i, j) * (a[size_t(r * k + j)] - b[size_t(r * k + j)]);
    }
  return loss;
}

std::vector<double> to_double(const float* w, int64_t n) { return std::vector<double>(w, w + n); }

// The true output error sum_t sum_r (w_r . x_t - w_hat_r . x_t)^2 by explicit matmuls (double).
double explicit_output_error(const std::vector<float>& x, int64_t n, int64_t k, const float* w,
                             const std::vector<double>& w_hat, int64_t rows) {
  double e = 0;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = 0; r < rows; ++r) {
      double y = 0, yh = 0;
      for (int64_t j = 0; j < k; ++j) {
        y += double(w[r * k + j]) * double(x[size_t(t * k + j)]);
        yh += w_hat[size_t(r * k + j)] * double(x[size_t(t * k + j)]);
      }
      e += (y - yh) * (y - yh);
    }
  return e;
}

void expect_same_quantized(const QuantizedWeight& a, const QuantizedWeight& b, const std::string& what) {
  EXPECT_EQ(a.packed, b.packed) << what;
  EXPECT_EQ(a.scales, b.scales) << what;
  EXPECT_EQ(a.zeros, b.zeros) << what;
  EXPECT_EQ(a.groups, b.groups) << what;
}

TEST(QuantAwq, ScalesFormulaByHand) {
  // m = {1, 4, 16, 0}: the dead channel is floored at the smallest positive mean (1).
  // alpha 1/2: m^a = {1, 2, 4, 1}, normalised by sqrt(max * min) = sqrt(4 * 1) = 2 -> {0.5, 1, 2, 0.5}.
  const std::vector<double> m = {1.0, 4.0, 16.0, 0.0};
  EXPECT_EQ(awq_scales_for_alpha(m, 0.5), (std::vector<float>{0.5f, 1.0f, 2.0f, 0.5f}));
  // alpha 0: exactly 1 everywhere (pow(0, 0) would be 1 as well, the floor is not even needed).
  EXPECT_EQ(awq_scales_for_alpha(m, 0.0), (std::vector<float>(4, 1.0f)));
  // No live channel: all 1.
  EXPECT_EQ(awq_scales_for_alpha({0.0, 0.0}, 0.5), (std::vector<float>(2, 1.0f)));
  EXPECT_THROW(awq_scales_for_alpha({1.0, -1.0}, 0.5), InputError);
  EXPECT_THROW(awq_scales_for_alpha({1.0, NAN}, 0.5), InputError);
}

// (1) Outlier channels: AWQ strictly beats RTN on its loss, and both losses are the true output
// errors measured by explicit matmuls of the activations the Hessian was built from.
TEST(QuantAwq, OutlierChannelsBeatRtnAndLossesAreTrueOutputErrors) {
  const int64_t K = 128, N = 512;
  const std::vector<int64_t> outliers = {5, 37, 70, 101};
  const std::vector<float> x = make_acts(N, K, outliers, 20.0f, 11);
  const Hessian h = hessian_of(x, N, K);
  const std::vector<double> m = mean_abs(x, N, K);
  // q, k, v sharing one input.
  const std::vector<int64_t> rows = {64, 32, 32};
  std::vector<std::vector<float>> w;
  for (size_t i = 0; i < rows.size(); ++i) w.push_back(make_weights(rows[i] * K, 100 + uint32_t(i)));
  const std::vector<const float*> mats = {w[0].data(), w[1].data(), w[2].data()};

  for (const WeightQuantSpec& sp : {spec(3, Granularity::Group, false, 32), spec(4, Granularity::Channel, true)}) {
    SCOPED_TRACE(sp.describe());
    const AwqParams p;
    const AwqScaleResult res = awq_search_scales(mats, rows, K, h, m, sp, p);
    ASSERT_EQ(res.scales.size(), size_t(K));
    ASSERT_EQ(res.losses.size(), size_t(p.grid));
    EXPECT_LT(res.loss_best, res.loss_identity);
    EXPECT_GT(res.alpha, 0.0);
    EXPECT_EQ(res.losses[0], res.loss_identity);
    EXPECT_EQ(res.losses[size_t(std::lround(res.alpha * p.grid))], res.loss_best);
    for (double l : res.losses) EXPECT_GE(l, res.loss_best);
    EXPECT_EQ(res.scales, awq_scales_for_alpha(m, res.alpha));
    // The salient channels are the ones scaled up the most.
    float max_other = 0.0f, min_outlier = 1e30f;
    for (int64_t j = 0; j < K; ++j) {
      const bool o = std::find(outliers.begin(), outliers.end(), j) != outliers.end();
      if (o) min_outlier = std::min(min_outlier, res.scales[size_t(j)]);
      else max_other = std::max(max_other, res.scales[size_t(j)]);
    }
    EXPECT_GT(min_outlier, max_other);

    // Explicit matmuls, with the quantizer called directly (not through awq_*).
    const std::vector<float> ones(size_t(K), 1.0f);
    double rtn_err = 0, awq_err = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const QuantizedWeight q_rtn = quantize_weight(mats[i], rows[i], K, sp);
      rtn_err += explicit_output_error(x, N, K, mats[i], unscaled(q_rtn, ones), rows[i]);
      const std::vector<float> ws = scale_columns(mats[i], rows[i], K, res.scales);
      const QuantizedWeight q_awq = quantize_weight(ws.data(), rows[i], K, sp);
      awq_err += explicit_output_error(x, N, K, mats[i], unscaled(q_awq, res.scales), rows[i]);
    }
    // Same quantity, two summation orders in double: agreement to ~1e-13 expected, 1e-9 asserted.
    EXPECT_NEAR(rtn_err, res.loss_identity, 1e-9 * rtn_err);
    EXPECT_NEAR(awq_err, res.loss_best, 1e-9 * awq_err);
    EXPECT_LT(awq_err, rtn_err);
    std::printf("[awq] %s: alpha %.2f loss_identity %.6g loss_best %.6g (ratio %.4f); explicit rtn %.6g awq %.6g\n",
                sp.describe().c_str(), res.alpha, res.loss_identity, res.loss_best, res.loss_best / res.loss_identity,
                rtn_err, awq_err);

    // Bit-identical for any thread count.
    const int saved = num_threads();
    set_num_threads(1);
    const AwqScaleResult one = awq_search_scales(mats, rows, K, h, m, sp, p);
    set_num_threads(3);
    const AwqScaleResult three = awq_search_scales(mats, rows, K, h, m, sp, p);
    set_num_threads(saved);
    EXPECT_EQ(one.losses, res.losses);
    EXPECT_EQ(three.losses, res.losses);
    EXPECT_EQ(three.scales, res.scales);
  }
}

// (2) grid = 1 evaluates alpha = 0 only: s = 1 exactly and the result is RTN bit for bit.
TEST(QuantAwq, GridOneIsExactlyRtn) {
  const int64_t N = 256;
  for (int64_t K : {96, 100}) {
    const std::vector<float> x = make_acts(N, K, {3, 40}, 20.0f, 21);
    const Hessian h = hessian_of(x, N, K);
    const std::vector<double> m = mean_abs(x, N, K);
    const int64_t rows = 20;
    const std::vector<float> w = make_weights(rows * K, 22);
    WeightQuantSpec bf16 = spec(2, Granularity::Group, false, 32);
    bf16.scale_dtype = DType::BF16;
    for (const WeightQuantSpec& sp :
         {spec(4, Granularity::Tensor, false), spec(3, Granularity::Channel, true), spec(4, Granularity::Group, false, 32),
          spec(8, Granularity::Group, true, 32), spec(1, Granularity::Channel, true), bf16}) {
      SCOPED_TRACE(sp.describe() + " K=" + std::to_string(K));
      AwqParams p;
      p.grid = 1;
      const AwqScaleResult res = awq_search_scales({w.data()}, {rows}, K, h, m, sp, p);
      EXPECT_EQ(res.scales, std::vector<float>(size_t(K), 1.0f));
      EXPECT_EQ(res.alpha, 0.0);
      EXPECT_EQ(res.loss_best, res.loss_identity);
      ASSERT_EQ(res.losses.size(), 1u);
      p.clip = false;
      const QuantizedWeight rtn = quantize_weight(w.data(), rows, K, sp);
      expect_same_quantized(awq_quantize(w.data(), rows, K, h, res.scales, sp, p), rtn, "awq_quantize(s = 1)");
      // The loss is the H-error of exactly that RTN result (independent full double loop).
      const double ref = h_loss(to_double(w.data(), rows * K), unscaled(rtn, res.scales), rows, K, h);
      EXPECT_NEAR(res.loss_identity, ref, 1e-12 * ref);
      // The full grid's first point is the same computation, bit for bit.
      p.grid = 20;
      EXPECT_EQ(awq_search_scales({w.data()}, {rows}, K, h, m, sp, p).loss_identity, res.loss_identity);
    }
  }
}

// (3) The clipping search: without clip it is quantize_weight exactly; with clip each (row, group) gets
// the candidate with the least partial output error (checked by brute force), so the summed per-group
// error never rises (and for tensor/channel granularity, where the group is the whole row or matrix,
// neither does the full output error).
TEST(QuantAwq, ClipSearchIsBruteForceOptimalAndNeverWorse) {
  const int64_t K = 100, N = 300, rows = 24;
  const std::vector<float> x = make_acts(N, K, {7, 55, 90}, 20.0f, 31);
  const Hessian h = hessian_of(x, N, K);
  const std::vector<double> m = mean_abs(x, N, K);
  const std::vector<float> w = make_weights(rows * K, 32, 0.03);
  WeightQuantSpec f16 = spec(3, Granularity::Group, false, 32);
  f16.scale_dtype = DType::F16;
  const AwqParams p;  // clip on, ratios 1.00 .. 0.55
  bool strictly_better_somewhere = false;
  for (const WeightQuantSpec& sp :
       {spec(3, Granularity::Channel, false), spec(4, Granularity::Channel, true), spec(3, Granularity::Group, false, 32),
        spec(4, Granularity::Group, true, 32), spec(2, Granularity::Group, false, 16), spec(4, Granularity::Tensor, false),
        f16}) {
    SCOPED_TRACE(sp.describe());
    const std::vector<float> s = awq_search_scales({w.data()}, {rows}, K, h, m, sp, p).scales;
    const std::vector<float> ws = scale_columns(w.data(), rows, K, s);
    AwqParams off = p;
    off.clip = false;
    const QuantizedWeight plain = awq_quantize(ws.data(), rows, K, h, s, sp, off);
    expect_same_quantized(plain, quantize_weight(ws.data(), rows, K, sp), "clip off");
    WeightQuantSpec mse = sp;  // the spec's own (weight-MSE) clip search is honoured when AWQ's is off
    mse.clip_search = true;
    expect_same_quantized(awq_quantize(ws.data(), rows, K, h, s, mse, off), quantize_weight(ws.data(), rows, K, mse),
                          "clip off, spec clip_search");

    const QuantizedWeight clipped = awq_quantize(ws.data(), rows, K, h, s, sp, p);
    EXPECT_EQ(clipped.spec.describe(), sp.describe());
    // Errors in the original weight space: (ws - deq) / s against w = ws / s.
    std::vector<double> w_ref(size_t(rows * K));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < K; ++j) w_ref[size_t(r * K + j)] = double(ws[size_t(r * K + j)]) / double(s[size_t(j)]);
    const std::vector<double> hat_plain = unscaled(plain, s), hat_clip = unscaled(clipped, s);

    if (sp.granularity == Granularity::Tensor) {
      float lo = 0, hi = 0;
      for (float v : ws) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
      const double chosen = h_loss(w_ref, hat_clip, rows, K, h);
      double best = INFINITY;
      bool is_candidate = false;
      for (int i = 0; i < 10; ++i) {
        const float ratio = float(1.0 - i / 20.0);
        const GroupParams c = params_from_range(lo * ratio, hi * ratio, sp);
        QuantizedWeight qc = QuantizedWeight::layout(rows, K, sp);
        qc.set_params(0, 0, c);
        for (int64_t k = 0; k < rows * K; ++k) qc.set_code(k / K, k % K, quantize_code(ws[size_t(k)], c, sp));
        best = std::min(best, h_loss(w_ref, unscaled(qc, s), rows, K, h));
        is_candidate = is_candidate || (c.scale == clipped.scales[0] && c.zero == clipped.zeros[0]);
      }
      EXPECT_TRUE(is_candidate);
      EXPECT_LE(chosen, best * (1 + 1e-12));
    }

    // Per (row, group): the chosen params are one of the candidates and the best of them.
    double sum_plain = 0, sum_clip = 0;
    if (sp.granularity != Granularity::Tensor) {
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t g = 0; g < clipped.groups; ++g) {
          const int64_t c0 = g * clipped.group_size, c1 = std::min(K, c0 + clipped.group_size);
          // One row's block loss: h_loss over that row alone, restricted to the group's columns.
          const std::vector<double> wr(w_ref.begin() + r * K, w_ref.begin() + (r + 1) * K);
          const std::vector<double> pr(hat_plain.begin() + r * K, hat_plain.begin() + (r + 1) * K);
          const std::vector<double> cr(hat_clip.begin() + r * K, hat_clip.begin() + (r + 1) * K);
          const double e_plain = h_loss(wr, pr, 1, K, h, c0, c1), e_clip = h_loss(wr, cr, 1, K, h, c0, c1);
          sum_plain += e_plain;
          sum_clip += e_clip;
          float lo = 0, hi = 0;
          for (int64_t j = c0; j < c1; ++j) {
            lo = std::min(lo, ws[size_t(r * K + j)]);
            hi = std::max(hi, ws[size_t(r * K + j)]);
          }
          const GroupParams chosen = clipped.params(r, g);
          double best = INFINITY;
          bool is_candidate = false;
          for (int i = 0; i < 10; ++i) {
            const float ratio = float(1.0 - i / 20.0);
            const GroupParams c = params_from_range(lo * ratio, hi * ratio, sp);
            std::vector<double> hr = wr;
            for (int64_t j = c0; j < c1; ++j)
              hr[size_t(j)] = double(fake_quantize(ws[size_t(r * K + j)], c, sp)) / double(s[size_t(j)]);
            best = std::min(best, h_loss(wr, hr, 1, K, h, c0, c1));
            is_candidate = is_candidate || (c.scale == chosen.scale && c.zero == chosen.zero);
          }
          EXPECT_TRUE(is_candidate) << "row " << r << " group " << g;
          EXPECT_LE(e_clip, best * (1 + 1e-12)) << "row " << r << " group " << g;
        }
      EXPECT_LE(sum_clip, sum_plain);
      strictly_better_somewhere = strictly_better_somewhere || sum_clip < sum_plain;
    }
    const double full_plain = h_loss(w_ref, hat_plain, rows, K, h), full_clip = h_loss(w_ref, hat_clip, rows, K, h);
    if (sp.granularity != Granularity::Group) {
      EXPECT_LE(full_clip, full_plain);
      strictly_better_somewhere = strictly_better_somewhere || full_clip < full_plain;
    }
    std::printf("[awq clip] %s: H-error rtn %.6g clip %.6g\n", sp.describe().c_str(), full_plain, full_clip);
  }
  EXPECT_TRUE(strictly_better_somewhere);
}

// (4) K = 172 with groups of 32 (last group 12 wide), zero rows and zero groups, dead input channels:
// everything finite, zeros stay exact zeros, dead channels get the floor scale, and a group whose
// inputs are all dead (all clip ratios tie at loss 0) keeps the unclipped range.
TEST(QuantAwq, RaggedGroupsZeroRowsAndDeadChannelsStayFinite) {
  const int64_t K = 172, N = 400, rows = 24;
  std::vector<int64_t> dead = {10};
  for (int64_t j = 160; j < K; ++j) dead.push_back(j);  // the whole ragged last group
  const std::vector<float> x = make_acts(N, K, {3, 50, 140}, 20.0f, 41, dead);
  const Hessian h = hessian_of(x, N, K);
  const std::vector<double> m = mean_abs(x, N, K);
  std::vector<float> w = make_weights(rows * K, 42);
  for (int64_t j = 0; j < K; ++j) w[size_t(3 * K + j)] = 0.0f;       // a zero row
  for (int64_t j = 64; j < 96; ++j) w[size_t(7 * K + j)] = 0.0f;     // a zero group
  for (int64_t j = 160; j < K; ++j) w[size_t(9 * K + j)] = 0.0f;     // a zero ragged group
  int64_t least_live = -1;
  for (int64_t j = 0; j < K; ++j)
    if (m[size_t(j)] > 0 && (least_live < 0 || m[size_t(j)] < m[size_t(least_live)])) least_live = j;

  std::vector<WeightQuantSpec> specs;
  for (int bits : {2, 3, 4, 8})
    for (bool sym : {false, true})
      for (Granularity g : {Granularity::Group, Granularity::Channel, Granularity::Tensor})
        specs.push_back(spec(bits, g, sym, g == Granularity::Group ? 32 : 0));
  specs.push_back(spec(1, Granularity::Group, true, 32));
  const AwqParams p;
  for (const WeightQuantSpec& sp : specs) {
    SCOPED_TRACE(sp.describe());
    const AwqScaleResult res = awq_search_scales({w.data()}, {rows}, K, h, m, sp, p);
    EXPECT_TRUE(std::isfinite(res.loss_identity) && std::isfinite(res.loss_best));
    EXPECT_LE(res.loss_best, res.loss_identity);
    for (float v : res.scales) EXPECT_TRUE(std::isfinite(v) && v > 0.0f);
    for (int64_t j : dead) EXPECT_EQ(res.scales[size_t(j)], res.scales[size_t(least_live)]);

    const std::vector<float> ws = scale_columns(w.data(), rows, K, res.scales);
    const QuantizedWeight q = awq_quantize(ws.data(), rows, K, h, res.scales, sp, p);
    const QuantizedWeight rtn = quantize_weight(ws.data(), rows, K, sp);
    ASSERT_EQ(q.groups, sp.granularity == Granularity::Group ? 6 : 1);
    const std::vector<float> d = q.dequantize();
    for (float v : d) ASSERT_TRUE(std::isfinite(v));
    if (sp.bits == 1) {
      expect_same_quantized(q, rtn, "1-bit symmetric is never clipped");
      continue;
    }
    for (size_t k = 0; k < ws.size(); ++k)
      if (ws[k] == 0.0f) {
        EXPECT_EQ(d[k], 0.0f) << "index " << k;
      }
    if (sp.granularity == Granularity::Group) {
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_EQ(q.params(r, 5).scale, rtn.params(r, 5).scale) << "row " << r;
        EXPECT_EQ(q.params(r, 5).zero, rtn.params(r, 5).zero) << "row " << r;
      }
      EXPECT_EQ(q.params(3, 0).scale, 0.0f);
      EXPECT_EQ(q.params(7, 2).scale, 0.0f);
    }
    EXPECT_TRUE(std::isfinite(h_loss(to_double(w.data(), rows * K), unscaled(q, res.scales), rows, K, h)));
  }

  // All-zero weights and all-dead inputs: zero losses, alpha 0, s = 1.
  const std::vector<float> zw(size_t(rows * K), 0.0f);
  const AwqScaleResult z = awq_search_scales({zw.data()}, {rows}, K, h, m, spec(4, Granularity::Group, false, 32), p);
  EXPECT_EQ(z.loss_identity, 0.0);
  EXPECT_EQ(z.loss_best, 0.0);
  EXPECT_EQ(z.alpha, 0.0);
  const Hessian h0(K);
  const std::vector<double> m0(size_t(K), 0.0);
  const AwqScaleResult d0 = awq_search_scales({w.data()}, {rows}, K, h0, m0, spec(4, Granularity::Group, false, 32), p);
  EXPECT_EQ(d0.scales, std::vector<float>(size_t(K), 1.0f));
  EXPECT_EQ(d0.loss_best, 0.0);
  EXPECT_THROW(awq_quantize(w.data(), rows, K, h, std::vector<float>(size_t(K), -1.0f),
                            spec(4, Granularity::Channel, false), p),
               InputError);
}

// (5) The folding convention: the stored matrix Q(W diag(s)) fed with x / s computes the same as the
// effective weight dequant / s fed with x, up to the fp32 rounding of x / s, for any s; the opposite
// convention (multiplying by s) does not.
TEST(QuantAwq, FoldingIdentityForAnyScales) {
  const int64_t K = 96, N = 64, rows = 16;
  const std::vector<float> x = make_acts(N, K, {2, 60}, 20.0f, 51);
  const Hessian h = hessian_of(x, N, K);
  const std::vector<float> w = make_weights(rows * K, 52);
  const WeightQuantSpec sp = spec(4, Granularity::Group, false, 32);
  std::mt19937 rng(53);
  std::uniform_real_distribution<double> u(std::log(0.125), std::log(8.0));
  std::vector<std::vector<float>> scale_sets;
  scale_sets.push_back(awq_search_scales({w.data()}, {rows}, K, h, mean_abs(x, N, K), sp, AwqParams()).scales);
  for (int i = 0; i < 3; ++i) {
    std::vector<float> s(static_cast<size_t>(K));
    for (float& v : s) v = float(std::exp(u(rng)));
    scale_sets.push_back(s);
  }
  for (const std::vector<float>& s : scale_sets) {
    const std::vector<float> ws = scale_columns(w.data(), rows, K, s);
    const std::vector<float> q = awq_quantize(ws.data(), rows, K, h, s, sp, AwqParams()).dequantize();
    double max_wrong_gap = 0, max_bound = 0;
    for (int64_t t = 0; t < N; ++t)
      for (int64_t r = 0; r < rows; ++r) {
        double folded = 0, unfolded = 0, wrong = 0, mag = 0;
        for (int64_t j = 0; j < K; ++j) {
          const double qv = q[size_t(r * K + j)], xv = x[size_t(t * K + j)], sv = s[size_t(j)];
          folded += qv * double(float(xv / sv));  // the previous operator outputs x / s in fp32
          unfolded += (qv / sv) * xv;
          wrong += (qv * sv) * xv;
          mag += std::fabs(qv * xv / sv);
        }
        // Each term differs by the fp32 rounding of x / s (relative <= 2^-24) plus double rounding.
        const double bound = (std::ldexp(1.0, -24) + std::ldexp(1.0, -48)) * mag;
        EXPECT_LE(std::fabs(folded - unfolded), bound) << "token " << t << " row " << r;
        max_wrong_gap = std::max(max_wrong_gap, std::fabs(wrong - unfolded));
        max_bound = std::max(max_bound, bound);
      }
    EXPECT_GT(max_wrong_gap, 1e3 * max_bound);
  }
}

}  // namespace
}  // namespace quantscope
