// GPTQ (see gptq.h for the reference). Implementation notes, with the paper's algorithm 1 in mind:
//  - H is the sum of x x^T; the paper's 2/N scaling cancels out of every update (err / U_ii * U_ij) and
//    only changes what "damp" means, so damp is relative: damp * mean(diag H), as in the reference code.
//  - Dead inputs (H_ii = 0) get H_ii = 1 and zero weights, as in the reference code.
//  - U is the upper Cholesky factor of (H + damp I)^-1 (the paper's "Cholesky reformulation").
//  - Rows of W are independent given U, so each row is processed on its own (tiles of rows share each
//    U row read for cache reuse): deterministic for any thread count. This is the same arithmetic as the
//    paper's lazy-batch column blocks, in a different association order.
//  - act-order ("desc_act"): columns in decreasing H_ii order. Groups stay contiguous in the ORIGINAL
//    column order (so the saved format needs no g_idx): with static_groups their params come from the
//    original weights up front; otherwise a group's params are computed from the row's current
//    (error-updated) weights when the first of its columns is reached, which without act-order is the
//    paper's behaviour exactly.
#include "quant/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/parallel.h"
#include "quant/linalg.h"

namespace quantscope {

namespace {

// The fp32 factor GPTQ's column loop uses.
bool inverse_cholesky_upper_f32(std::vector<double> h, int64_t n, std::vector<float>* u) {
  std::vector<double> ud;
  if (!inverse_cholesky_upper(std::move(h), n, &ud)) return false;
  u->assign(ud.begin(), ud.end());
  return true;
}

}  // namespace

QuantizedWeight gptq_quantize(const float* w, int64_t rows, int64_t cols, const Hessian& h, const WeightQuantSpec& spec,
                              const GptqParams& params, GptqStats* stats) {
  return gptq_quantize_with_correction(w, rows, cols, h, spec, params, nullptr, stats);
}

QuantizedWeight gptq_quantize_with_correction(const float* w_in, int64_t rows, int64_t cols, const Hessian& hess,
                                              const WeightQuantSpec& spec, const GptqParams& params,
                                              const GptqCorrection& correction, GptqStats* stats) {
  validate_weight_spec(spec, "gptq");
  const int64_t n = cols;
  if (hess.k() != n) fail_internal("gptq: Hessian is {}x{} but K = {}", hess.k(), hess.k(), n);
  GptqStats st;
  std::vector<float> w(w_in, w_in + rows * cols);
  std::vector<double> h(hess.data(), hess.data() + n * n);
  for (int64_t i = 0; i < n; ++i) {
    if (h[size_t(i * n + i)] == 0.0) {
      h[size_t(i * n + i)] = 1.0;
      for (int64_t r = 0; r < rows; ++r) w[size_t(r * n + i)] = 0.0f;
      ++st.dead_columns;
    }
  }
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (params.act_order)
    std::stable_sort(perm.begin(), perm.end(),
                     [&](int64_t a, int64_t b) { return h[size_t(a * n + a)] > h[size_t(b * n + b)]; });
  std::vector<int64_t> invperm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) invperm[size_t(perm[size_t(i)])] = i;

  std::vector<double> hp(size_t(n * n));
  double mean_diag = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) hp[size_t(i * n + j)] = h[size_t(perm[size_t(i)] * n + perm[size_t(j)])];
    mean_diag += hp[size_t(i * n + i)];
  }
  mean_diag /= double(n);
  std::vector<float> u;
  double damp = params.damp * mean_diag;
  for (;;) {
    std::vector<double> hd = hp;
    for (int64_t i = 0; i < n; ++i) hd[size_t(i * n + i)] += damp;
    if (inverse_cholesky_upper_f32(std::move(hd), n, &u)) break;
    if (++st.damp_retries > 6)
      fail_input("gptq: the Hessian stays singular after damping by {} (calibration inputs degenerate?)", damp);
    damp = damp > 0 ? damp * 10.0 : 1e-6 * std::max(mean_diag, 1e-12);
  }
  st.damp_used = damp;
  const std::vector<float> p = correction ? correction(perm, u) : std::vector<float>();
  if (correction && p.size() != size_t(n * n)) fail_internal("gptq: correction matrix has {} entries, not {}", p.size(), n * n);

  QuantizedWeight q = QuantizedWeight::layout(rows, cols, spec);
  const int64_t gs = q.group_size, ng = q.groups;
  // Params fixed before the column sweep: per tensor and per channel (from the dead-zeroed original
  // weights, as the reference does), and static groups.
  const bool lazy_groups = spec.granularity == Granularity::Group && !params.static_groups;
  if (spec.granularity == Granularity::Tensor) q.set_params(0, 0, find_params(w.data(), rows * cols, spec));
  if (!lazy_groups && spec.granularity != Granularity::Tensor)
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < ng; ++g) {
        const int64_t c0 = g * gs, c1 = std::min(cols, c0 + gs);
        q.set_params(r, g, find_params(w.data() + r * cols + c0, c1 - c0, spec));
      }
  // Positions (in permuted order) of each group's columns.
  std::vector<std::vector<int64_t>> group_pos(static_cast<size_t>(ng));
  for (int64_t c = 0; c < cols; ++c) group_pos[size_t(c / gs)].push_back(invperm[size_t(c)]);

  constexpr int64_t kRowTile = 16;
  const int64_t tiles = (rows + kRowTile - 1) / kRowTile;
  parallel_for(0, tiles, [&](int64_t t) {
    const int64_t r0 = t * kRowTile, r1 = std::min(rows, r0 + kRowTile), nr = r1 - r0;
    std::vector<float> wp(size_t(nr * n));  // rows of the tile in permuted column order
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t i = 0; i < n; ++i) wp[size_t((r - r0) * n + i)] = w[size_t(r * n + perm[size_t(i)])];
    std::vector<char> have(size_t(nr * ng), 0);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = perm[size_t(i)], g = c / gs;
      const float* ui = u.data() + i * n;
      const float* pi = p.empty() ? nullptr : p.data() + i * n;
      const float uii = ui[i];
      for (int64_t rr = 0; rr < nr; ++rr) {
        float* row = wp.data() + rr * n;
        if (lazy_groups && !have[size_t(rr * ng + g)]) {
          const auto& pos = group_pos[size_t(g)];
          q.set_params(r0 + rr, g, find_params_strided(row, pos.data(), int64_t(pos.size()), spec));
          have[size_t(rr * ng + g)] = 1;
        }
        const GroupParams gp = q.params(r0 + rr, g);
        const uint8_t code = quantize_code(row[i], gp, spec);
        q.set_code(r0 + rr, c, code);
        const float wi = row[i];
        const float err = (wi - dequantize_code(code, gp)) / uii;
        if (pi) {
          for (int64_t j = i + 1; j < n; ++j) row[j] -= err * ui[j] - wi * pi[j];
        } else {
          for (int64_t j = i + 1; j < n; ++j) row[j] -= err * ui[j];
        }
      }
    }
  }, 2 * kRowTile * n * n);
  if (stats) *stats = st;
  return q;
}

}  // namespace quantscope
