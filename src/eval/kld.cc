#include "eval/kld.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/error.h"
#include "core/progress.h"

namespace quantscope {

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// max and log of the partition function of one logits row, summed sequentially in double so the
// reference writer and the evaluator compute bit-identical log-probabilities from identical logits.
struct RowNorm {
  double max = 0, log_z = 0;
};
RowNorm row_norm(const float* l, int64_t n) {
  double m = l[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, double(l[i]));
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(double(l[i]) - m);
  return {m, m + std::log(s)};
}

// Log-probabilities are used as fp32 on both sides: an fp32 reference then gives exactly 0 for a
// model scored against itself (the rounding is 6e-8 relative, far below any quantization effect).
float log_prob(const float* l, const RowNorm& z, int64_t i) { return float(double(l[i]) - z.log_z); }

// log of the probability mass outside `in_top` (mask [n]), summed over the tail only (no 1 - sum
// cancellation); -inf when the tail is empty or underflows.
double log_tail_mass(const float* l, int64_t n, const RowNorm& z, const std::vector<uint8_t>& in_top) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i)
    if (!in_top[size_t(i)]) s += std::exp(double(l[i]) - z.max);
  return s > 0 ? z.max + std::log(s) - z.log_z : kNegInf;
}

int argmax_lowest(const float* l, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (l[i] > l[best]) best = i;
  return int(best);
}


std::vector<PplWindow> limited_windows(const std::vector<int>& stream, int bos, PplProtocol p, int64_t ctx,
                                       int64_t max_windows, const std::string& what) {
  std::vector<PplWindow> w = ppl_windows(stream, bos, p, ctx);
  if (w.empty())
    fail_input("{}: the text has {} tokens, too few for one window of context {} ({} protocol)", what, stream.size(), ctx,
               ppl_protocol_name(p));
  if (max_windows > 0 && max_windows < int64_t(w.size())) w.resize(size_t(max_windows));
  return w;
}

// Upper bound on KLD_exact - KLD_compact for one token (docs/perplexity-protocols.md):
//   gap = P_T * KL(p_c || q_c), p_c, q_c the reference/model distributions conditioned on the tail T.
//   Every tail probability of the reference is <= p_k (the smallest top-k probability), so
//   p_c,j <= m = min(1, p_k / P_T). Then -H(p_c) <= log m, and the cross-entropy -sum p_c log q_c is
//   at most the greedy value that puts mass m on each of the smallest q_c (last one the remainder).
double gap_bound(const float* l, int64_t n, const RowNorm& z, const std::vector<uint8_t>& in_top, double p_tail,
                 double p_k, double log_q_tail_unnorm, std::vector<float>& scratch) {
  if (!(p_tail > 0)) return 0.0;
  const double m = std::min(1.0, p_k / p_tail);
  scratch.clear();
  for (int64_t i = 0; i < n; ++i)
    if (!in_top[size_t(i)]) scratch.push_back(l[i]);
  if (scratch.empty()) return 0.0;
  if (!(m > 0)) return std::numeric_limits<double>::infinity();
  const size_t need = std::min(scratch.size(), size_t(std::ceil(1.0 / m - 1e-12)));
  std::nth_element(scratch.begin(), scratch.begin() + ptrdiff_t(need - 1), scratch.end());
  std::sort(scratch.begin(), scratch.begin() + ptrdiff_t(need));
  // -log q_c,j = log(sum over the tail of exp(l - max)) - (l_j - max)
  double ce = 0, left = 1.0;
  for (size_t j = 0; j < need && left > 0; ++j) {
    const double mass = (j + 1 == need) ? left : std::min(m, left);
    ce += mass * (log_q_tail_unnorm - (double(scratch[j]) - z.max));
    left -= mass;
  }
  return std::max(0.0, p_tail * (std::log(m) + ce));
}

}  // namespace

RefHeader write_reference(Forward& fwd, const std::vector<int>& stream, int bos_id, const RefOptions& o,
                          const std::string& out) {
  const ModelConfig& c = fwd.model().config;
  const int64_t V = c.vocab_size;
  if (o.k < 1 || o.k > V) fail_input("ref: --top-k {} must be between 1 and the vocabulary size {}", o.k, V);
  std::vector<PplWindow> windows = limited_windows(stream, bos_id, o.protocol, o.ctx, o.max_windows, "ref");
  RefHeader h;
  h.protocol = o.protocol;
  h.dtype = o.dtype;
  h.vocab = int32_t(V);
  h.k = o.k;
  h.bos_id = bos_id;
  h.ctx = o.ctx;
  h.windows = int64_t(windows.size());
  for (const auto& w : windows) h.scored += int64_t(w.targets.size());
  h.model_params = fwd.model().parameter_count();
  h.model = o.model_path;
  h.text = o.text_path;
  h.stream = stream;
  RefWriter writer(out, h);
  std::vector<int32_t> order(static_cast<size_t>(V)), ids(static_cast<size_t>(o.k));
  std::vector<float> logp(static_cast<size_t>(o.k));
  std::vector<uint8_t> in_top(static_cast<size_t>(V));
  for_each_scored(fwd, windows, "ref", o.progress, [&](const float* l, int target) {
    const RowNorm z = row_norm(l, V);
    std::iota(order.begin(), order.end(), 0);
    // descending logit, ties by lower id: the order is a pure function of the logits
    std::partial_sort(order.begin(), order.begin() + o.k, order.end(),
                      [l](int32_t a, int32_t b) { return l[a] > l[b] || (l[a] == l[b] && a < b); });
    std::fill(in_top.begin(), in_top.end(), 0);
    for (int i = 0; i < o.k; ++i) {
      ids[size_t(i)] = order[size_t(i)];
      logp[size_t(i)] = log_prob(l, z, order[size_t(i)]);
      in_top[size_t(order[size_t(i)])] = 1;
    }
    const float log_tail = float(log_tail_mass(l, V, z, in_top));
    writer.add(ids.data(), logp.data(), log_tail, log_prob(l, z, target));
  });
  writer.finish();
  return h;
}

KldResult kld_against_reference(Forward& fwd, const RefReader& ref, const KldOptions& o) {
  const RefHeader& h = ref.header();
  const ModelConfig& c = fwd.model().config;
  const int64_t V = c.vocab_size;
  if (V != h.vocab)
    fail_input("kld: the model's vocabulary is {} tokens but the reference was written with {} (same tokenizer needed)",
               V, h.vocab);
  std::vector<PplWindow> windows = ppl_windows(h.stream, h.bos_id, h.protocol, h.ctx);
  if (int64_t(windows.size()) < h.windows)
    fail_input("kld: the reference claims {} windows but its stream gives {}", h.windows, windows.size());
  windows.resize(size_t(h.windows));
  int64_t expect = 0;
  for (const auto& w : windows) expect += int64_t(w.targets.size());
  if (expect != h.scored)
    fail_input("kld: the reference holds {} scored tokens but its {} windows score {}", h.scored, h.windows, expect);
  if (o.max_windows > 0 && o.max_windows < int64_t(windows.size())) windows.resize(size_t(o.max_windows));

  KldResult r;
  r.protocol = std::string(ppl_protocol_name(h.protocol));
  r.dtype = h.dtype == RefDType::F16 ? "f16" : "f32";
  r.ctx = h.ctx;
  r.k = h.k;
  r.windows = int64_t(windows.size());
  std::vector<double> dps, nll_m, nll_r;
  std::vector<uint8_t> in_top(static_cast<size_t>(V));
  std::vector<float> scratch;
  RefToken t;
  int64_t i = 0, same_top = 0;
  double tail_sum = 0;
  for_each_scored(fwd, windows, "kld", o.progress, [&](const float* l, int target) {
    ref.token(i++, &t);
    const RowNorm z = row_norm(l, V);
    std::fill(in_top.begin(), in_top.end(), 0);
    double kl = 0, p_k = 1;
    for (int j = 0; j < h.k; ++j) {
      const int32_t id = t.ids[size_t(j)];
      in_top[size_t(id)] = 1;
      const double lp = t.logp[size_t(j)], lq = log_prob(l, z, id);
      const double p = std::exp(lp);
      p_k = std::min(p_k, p);
      if (p > 0) kl += p * (lp - lq);
    }
    const double p_tail = std::exp(double(t.log_tail));
    double log_q_tail_unnorm = kNegInf;  // log(sum_{tail} exp(l - max))
    if (p_tail > 0) {
      const double lq_tail = log_tail_mass(l, V, z, in_top);
      // Rounded to fp32 like the stored value, so a model against its own fp32 reference gives 0.
      kl += p_tail * (double(t.log_tail) - double(float(lq_tail)));
      log_q_tail_unnorm = lq_tail + z.log_z - z.max;
    }
    r.token_kld.push_back(kl);
    r.token_bound.push_back(gap_bound(l, V, z, in_top, p_tail, p_k, log_q_tail_unnorm, scratch));
    tail_sum += p_tail;
    if (argmax_lowest(l, V) == t.ids[0]) ++same_top;
    const double lq_target = log_prob(l, z, target);
    nll_m.push_back(-lq_target);
    nll_r.push_back(-double(t.target_logp));
    dps.push_back(std::exp(lq_target) - std::exp(double(t.target_logp)));
  });
  r.scored = i;
  r.tail_mass_mean = tail_sum / double(i);
  r.kld = mean_se(r.token_kld);
  r.bound_mean = mean_se(r.token_bound).mean;
  std::vector<double> s = r.token_kld;
  std::sort(s.begin(), s.end());
  r.kld_min = s.front();
  r.kld_max = s.back();
  r.kld_p01 = percentile_sorted(s, 1);
  r.kld_p05 = percentile_sorted(s, 5);
  r.kld_p10 = percentile_sorted(s, 10);
  r.kld_median = percentile_sorted(s, 50);
  r.kld_p90 = percentile_sorted(s, 90);
  r.kld_p95 = percentile_sorted(s, 95);
  r.kld_p99 = percentile_sorted(s, 99);
  r.kld_p999 = percentile_sorted(s, 99.9);
  r.top1 = proportion(same_top, i);
  r.dp = mean_se(dps);
  std::vector<double> sq(dps.size());
  for (size_t j = 0; j < dps.size(); ++j) sq[j] = dps[j] * dps[j];
  const MeanSe msq = mean_se(sq);
  r.rms_dp = std::sqrt(msq.mean);
  r.rms_dp_se = r.rms_dp > 0 ? msq.se / (2 * r.rms_dp) : 0;  // delta method on sqrt
  std::sort(dps.begin(), dps.end());
  r.dp_min = dps.front();
  r.dp_max = dps.back();
  r.dp_p001 = percentile_sorted(dps, 0.1);
  r.dp_p01 = percentile_sorted(dps, 1);
  r.dp_p05 = percentile_sorted(dps, 5);
  r.dp_p10 = percentile_sorted(dps, 10);
  r.dp_p25 = percentile_sorted(dps, 25);
  r.dp_median = percentile_sorted(dps, 50);
  r.dp_p75 = percentile_sorted(dps, 75);
  r.dp_p90 = percentile_sorted(dps, 90);
  r.dp_p95 = percentile_sorted(dps, 95);
  r.dp_p99 = percentile_sorted(dps, 99);
  r.dp_p999 = percentile_sorted(dps, 99.9);
  r.nll_model = mean_se(nll_m);
  r.nll_ref = mean_se(nll_r);
  r.ppl_model = std::exp(r.nll_model.mean);
  r.ppl_ref = std::exp(r.nll_ref.mean);
  std::vector<double> d(nll_m.size());
  double cov = 0;
  for (size_t j = 0; j < d.size(); ++j) {
    d[j] = nll_m[j] - nll_r[j];
    cov += (nll_m[j] - r.nll_model.mean) * (nll_r[j] - r.nll_ref.mean);
  }
  const MeanSe md = mean_se(d);
  r.ln_ratio = md.mean;
  r.ln_ratio_se = md.se;
  r.ppl_ratio = std::exp(md.mean);
  r.ppl_ratio_se = r.ppl_ratio * md.se;
  r.ppl_diff = r.ppl_model - r.ppl_ref;
  // delta method on exp(a) - exp(b) with the paired covariance of the two mean NLLs
  const double n = double(d.size());
  const double cov_means = n > 1 ? cov / (n - 1) / n : 0;
  const double var_diff = r.ppl_model * r.ppl_model * r.nll_model.se * r.nll_model.se +
                          r.ppl_ref * r.ppl_ref * r.nll_ref.se * r.nll_ref.se - 2 * r.ppl_model * r.ppl_ref * cov_means;
  r.ppl_diff_se = std::sqrt(std::max(0.0, var_diff));
  const double sa = r.nll_model.se * std::sqrt(n), sb = r.nll_ref.se * std::sqrt(n);
  r.nll_correlation = (n > 1 && sa > 0 && sb > 0) ? (cov / (n - 1)) / (sa * sb) : 1.0;
  return r;
}

double kld_exact(const float* ref_logits, const float* logits, int64_t n) {
  const RowNorm zp = row_norm(ref_logits, n), zq = row_norm(logits, n);
  double kl = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double lp = double(ref_logits[i]) - zp.log_z, lq = double(logits[i]) - zq.log_z;
    const double p = std::exp(lp);
    if (p > 0) kl += p * (lp - lq);
  }
  return kl;
}

}  // namespace quantscope
