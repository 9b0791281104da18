// SliM-LLM (see slim_llm.h for the reference and what is simulated).
#include "quant/slim_llm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/parallel.h"
#include "quant/billm.h"

namespace quantscope {

namespace {

int64_t slim_group_size(const WeightQuantSpec& s, int64_t cols) {
  const int64_t g = s.granularity == Granularity::Group ? s.group_size : 128;
  return std::max<int64_t>(1, std::min(g, cols));
}

// Per-row params for a group of columns at `bits`: the scheme with per-channel granularity.
WeightQuantSpec group_spec(const WeightQuantSpec& s, int bits) {
  WeightQuantSpec g = s;
  g.bits = bits;
  g.granularity = Granularity::Channel;
  g.group_size = 0;
  return g;
}

// sum_j H_jj * sum_rows (w - rtn(w))^2 over columns [c0, c0 + n) at `bits`.
double rtn_group_error(const float* w, int64_t rows, int64_t cols, int64_t c0, int64_t n, const Hessian& h,
                       const WeightQuantSpec& s, int bits) {
  const WeightQuantSpec gs = group_spec(s, bits);
  std::vector<double> per_row(static_cast<size_t>(rows), 0.0);
  parallel_for(0, rows, [&](int64_t r) {
    const float* wr = w + r * cols + c0;
    const GroupParams p = find_params(wr, n, gs);
    double e = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double d = double(wr[j]) - fake_quantize(wr[j], p, gs);
      e += h.at(c0 + j, c0 + j) * d * d;
    }
    per_row[size_t(r)] = e;
  }, n * 16);
  double e = 0;
  for (double x : per_row) e += x;
  return e;
}

}  // namespace

SlimLlmAllocation slim_llm_allocate(const float* w, int64_t rows, int64_t cols, const Hessian& h,
                                    const WeightQuantSpec& spec) {
  if (spec.bits < 2 || spec.bits > 7)
    fail_input("slim_llm: w_bits {} is not supported (mixed precision b-1/b/b+1 needs 2..7)", spec.bits);
  if (h.k() != cols) fail_internal("slim_llm: Hessian is {}x{} but the weight has {} columns", h.k(), h.k(), cols);
  SlimLlmAllocation a;
  a.group_size = slim_group_size(spec, cols);
  const int64_t g = a.group_size, ngroups = (cols + g - 1) / g, nfull = cols / g;
  a.bits.assign(size_t(ngroups), spec.bits);
  if (nfull < 2) return a;
  std::vector<double> sal(static_cast<size_t>(nfull), 0.0), e_lo(static_cast<size_t>(nfull)), e_mid(static_cast<size_t>(nfull)), e_hi(static_cast<size_t>(nfull));
  for (int64_t gi = 0; gi < nfull; ++gi) {
    double s = 0;
    for (int64_t j = gi * g; j < (gi + 1) * g; ++j) {
      double col = 0;
      for (int64_t r = 0; r < rows; ++r) col += double(w[r * cols + j]) * w[r * cols + j];
      s += h.at(j, j) * col;
    }
    sal[size_t(gi)] = s;
    e_lo[size_t(gi)] = rtn_group_error(w, rows, cols, gi * g, g, h, spec, spec.bits - 1);
    e_mid[size_t(gi)] = rtn_group_error(w, rows, cols, gi * g, g, h, spec, spec.bits);
    e_hi[size_t(gi)] = rtn_group_error(w, rows, cols, gi * g, g, h, spec, spec.bits + 1);
  }
  std::vector<int64_t> order(static_cast<size_t>(nfull));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return sal[size_t(x)] > sal[size_t(y)]; });
  // Total error with the top m raised and the bottom m lowered, relative to all at b.
  double delta = 0, best_delta = 0;
  int64_t best_m = 0;
  for (int64_t m = 1; m <= nfull / 2; ++m) {
    const int64_t up = order[size_t(m - 1)], down = order[size_t(nfull - m)];
    delta += e_hi[size_t(up)] - e_mid[size_t(up)] + e_lo[size_t(down)] - e_mid[size_t(down)];
    if (delta < best_delta) best_delta = delta, best_m = m;
  }
  for (int64_t m = 0; m < best_m; ++m) {
    a.bits[size_t(order[size_t(m)])] = spec.bits + 1;
    a.bits[size_t(order[size_t(nfull - 1 - m)])] = spec.bits - 1;
  }
  return a;
}

SimulatedQuant slim_llm_quantize(const float* w0, int64_t rows, int64_t cols, const Hessian& h,
                                 const WeightQuantSpec& spec, const SlimLlmParams& prm, SlimLlmAllocation* alloc_out) {
  const SlimLlmAllocation a = slim_llm_allocate(w0, rows, cols, h, spec);
  const int64_t g = a.group_size, ngroups = int64_t(a.bits.size());
  std::vector<WeightQuantSpec> gspec;
  for (int b : a.bits) gspec.push_back(group_spec(spec, b));
  std::vector<float> q(size_t(rows * cols), 0.0f);
  if (prm.gptq) {
    std::vector<bool> dead;
    const std::vector<double> u = inverse_hessian_upper(h, prm.damp, &dead);
    parallel_for(0, rows, [&](int64_t r) {
      std::vector<float> wr(w0 + r * cols, w0 + (r + 1) * cols);
      for (int64_t c = 0; c < cols; ++c)
        if (dead[size_t(c)]) wr[size_t(c)] = 0.0f;
      GroupParams p;
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t gi = c / g;
        if (c % g == 0) p = find_params(wr.data() + c, std::min(g, cols - c), gspec[size_t(gi)]);
        const float qv = fake_quantize(wr[size_t(c)], p, gspec[size_t(gi)]);
        q[size_t(r * cols + c)] = qv;
        const double e = (double(wr[size_t(c)]) - qv) / u[size_t(c * cols + c)];
        const double* ur = u.data() + c * cols;
        for (int64_t cc = c + 1; cc < cols; ++cc) wr[size_t(cc)] -= float(e * ur[cc]);
      }
    }, cols * cols);
  } else {
    parallel_for(0, rows, [&](int64_t r) {
      const float* wr = w0 + r * cols;
      for (int64_t gi = 0; gi < ngroups; ++gi) {
        const int64_t c0 = gi * g, n = std::min(g, cols - c0);
        const GroupParams p = find_params(wr + c0, n, gspec[size_t(gi)]);
        for (int64_t j = 0; j < n; ++j) q[size_t(r * cols + c0 + j)] = fake_quantize(wr[c0 + j], p, gspec[size_t(gi)]);
      }
    }, cols * 8);
  }
  SimulatedQuant out;
  out.dequantized = std::move(q);
  double code_bits = 0;
  for (int64_t gi = 0; gi < ngroups; ++gi) code_bits += double(a.bits[size_t(gi)]) * double(std::min(g, cols - gi * g));
  code_bits *= double(rows);
  const double n = double(rows * cols);
  const double scale_bits = double(dtype_size(spec.scale_dtype) * 8) + (spec.symmetric ? 0.0 : 8.0);
  out.code_bits_per_weight = code_bits / n;
  out.bits_per_weight = (code_bits + double(rows * ngroups) * scale_bits + 2.0 * double(ngroups)) / n;
  int lo = 0, hi = 0;
  for (int b : a.bits) lo += b < spec.bits, hi += b > spec.bits;
  out.note = fmt::format("slim_llm simulated storage: {:.3f} bpw ({:.3f} code bits; g{}: {} groups at w{}, {} at w{}, {} at w{})",
                         out.bits_per_weight, out.code_bits_per_weight, g, hi, spec.bits + 1,
                         ngroups - lo - hi, spec.bits, lo, spec.bits - 1);
  if (alloc_out) *alloc_out = a;
  return out;
}

}  // namespace quantscope
