// KL divergence of a model to a reference model, through the compact reference file
// (eval/reference_file.h): write_reference() runs the reference model over a text under a perplexity
// protocol; kld_against_reference() runs another model over exactly the same windows and reports the
// statistics llama.cpp's `perplexity --kl-divergence` prints. The compact KLD merges the tail (all
// tokens outside the reference's top k) into one bucket, so KLD_compact <= KLD_exact; each token
// also gets an upper bound on the gap (docs/perplexity-protocols.md, "Compact KLD and its bound").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/perplexity.h"
#include "eval/reference_file.h"
#include "eval/stats.h"
#include "model/forward.h"

namespace quantscope {

struct RefOptions {
  PplProtocol protocol = PplProtocol::FullWindow;
  int64_t ctx = 512;
  int64_t max_windows = 0;  // 0 = all
  int k = 32;
  RefDType dtype = RefDType::F16;
  std::string model_path, text_path;  // recorded in the header
  bool progress = true;
};

// Writes the reference of `fwd`'s model over `stream` to `out` atomically; returns its header.
RefHeader write_reference(Forward& fwd, const std::vector<int>& stream, int bos_id, const RefOptions& options,
                          const std::string& out);

struct KldOptions {
  int64_t max_windows = 0;  // 0 = all the reference holds
  bool progress = true;
};

struct KldResult {
  std::string protocol, dtype;
  int64_t ctx = 0, windows = 0, scored = 0;
  int k = 0;
  // KLD(reference || model) per token, nats.
  MeanSe kld;
  double kld_min = 0, kld_max = 0, kld_p01 = 0, kld_p05 = 0, kld_p10 = 0, kld_median = 0, kld_p90 = 0, kld_p95 = 0,
         kld_p99 = 0, kld_p999 = 0;
  // Upper bound on KLD_exact - KLD_compact, averaged over tokens (>= 0), and the mean tail mass.
  double bound_mean = 0, tail_mass_mean = 0;
  MeanSe top1;  // fraction of tokens where the model's argmax equals the reference's
  // dp = p_model(next token) - p_reference(next token).
  MeanSe dp;
  double dp_min = 0, dp_p001 = 0, dp_p01 = 0, dp_p05 = 0, dp_p10 = 0, dp_p25 = 0, dp_median = 0, dp_p75 = 0,
         dp_p90 = 0, dp_p95 = 0, dp_p99 = 0, dp_p999 = 0, dp_max = 0;
  double rms_dp = 0, rms_dp_se = 0;
  // Perplexities of both over the scored tokens and the paired ratio: ln(ratio) = mean(nll_model -
  // nll_ref), its se from the per-token differences (= sqrt(se_a^2 + se_b^2 - 2 cov) of the means).
  MeanSe nll_model, nll_ref;
  double ppl_model = 0, ppl_ref = 0, ln_ratio = 0, ln_ratio_se = 0, ppl_ratio = 0, ppl_ratio_se = 0;
  double ppl_diff = 0, ppl_diff_se = 0, nll_correlation = 0;
  std::vector<double> token_kld, token_bound;  // per scored token, in scoring order
};

KldResult kld_against_reference(Forward& fwd, const RefReader& ref, const KldOptions& options);

// Exact full-vocabulary KL(P || Q) in nats from two logit rows [n] (log-sums in double).
double kld_exact(const float* ref_logits, const float* logits, int64_t n);

}  // namespace quantscope
