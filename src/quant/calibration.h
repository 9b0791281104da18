// Calibration data and the statistics methods need from it.
//  - CalibrationSet: N samples x L tokens drawn from text files with a seed (as GPTQ/AWQ draw random
//    windows of C4/WikiText): the files are concatenated (joined by "\n"), tokenized once without BOS,
//    and each sample is [BOS] + L-1 consecutive tokens from a start drawn with std::mt19937_64(seed)
//    (whose output sequence the C++ standard fixes, so the set is the same on every platform).
//  - Hessian: H = sum over calibration tokens of x x^T (double, [K, K]) for the input x of a linear:
//    GPTQ's proxy Hessian, and the exact way to get the output error ||(W - Wq) X^T||_F^2 =
//    sum_rows d^T H d without storing the activations.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "quant/quantizer.h"
#include "tokenizer/tokenizer.h"

namespace quantscope {

struct CalibrationOptions {
  std::vector<std::string> files;
  int64_t nsamples = 128;
  int64_t seqlen = 512;  // tokens per sample, BOS included
  uint64_t seed = 0;
};

struct CalibrationSet {
  CalibrationOptions options;
  std::vector<std::vector<int>> samples;  // [nsamples][seqlen]
  int64_t stream_tokens = 0;              // tokens in the concatenated text
  std::string hash;                       // FNV-1a 64 of the sample token ids (int32 little-endian), hex

  int64_t tokens() const;
  nlohmann::json to_json() const;
};

CalibrationSet build_calibration(const Tokenizer& tok, const CalibrationOptions& o, int bos_id);
// From token ids already in hand (tests).
CalibrationSet build_calibration_from_stream(const std::vector<int>& stream, const CalibrationOptions& o, int bos_id);

// FNV-1a 64 over bytes, continuing from `h` (start with kFnvOffset).
inline constexpr uint64_t kFnvOffset = 1469598103934665603ull;
uint64_t fnv1a64(const void* data, size_t n, uint64_t h = kFnvOffset);

class Hessian {
 public:
  explicit Hessian(int64_t k) : k_(k), h_(size_t(k * k), 0.0) {}
  // Adds x [m, k] (row-major): H += x^T x. Deterministic (each element summed in token order by one thread).
  void add(const float* x, int64_t m);
  int64_t k() const { return k_; }
  int64_t tokens() const { return tokens_; }
  const double* data() const { return h_.data(); }
  double at(int64_t i, int64_t j) const { return h_[size_t(i * k_ + j)]; }

 private:
  int64_t k_, tokens_ = 0;
  std::vector<double> h_;
};

// sqrt(sum_r (w_r - q_r)^T H (w_r - q_r) / sum_r w_r^T H w_r): the relative Frobenius error of the
// layer's output on the calibration activations (0 when the output is all zero). Computed with fp32
// products (relative accuracy ~1e-5; see calibration.cc).
double relative_output_error(const float* w, const QuantizedWeight& q, const Hessian& h);
// The same for an fp32 matrix wq [rows, cols] in place of q.
double relative_output_error(const float* w, const float* wq, int64_t rows, int64_t cols, const Hessian& h);

// Sensitivity proxies from a linear's calibration inputs (analysis/sensitivity ranks tensors by them).
// N = h.tokens() calibration tokens x_t [K], the Hessian h holding sum_t x_t x_t^T.
//
// hessian_trace: tr(H) for H = 2/N sum_t x_t x_t^T, the Hessian of the squared output error
// ||(W - Wq) x||^2 averaged over tokens, i.e. 2/N sum_t ||x_t||^2. Units: activation^2. (GPTQ's
// reference code divides by the number of sequences, not tokens: a factor seqlen, the same for every
// linear, which no ranking sees; quantscope's GPTQ divides by neither, as the scale cancels.)
// NaN when h has no tokens.
double hessian_trace(const Hessian& h);

// HAWQ-style sensitivity (Dong et al., HAWQ-V2, 2020): tr(H)/K * ||W - Wq||_F^2, the mean Hessian
// diagonal times the squared quantization error of w, wq [rows, cols = K]. It is 2x the mean squared
// output error per token (summed over the rows) if H were isotropic (tr(H)/K) I, which is what it
// approximates. Units: activation^2 x weight^2 (squared output units). NaN when h has no tokens.
double hessian_weighted_error(const float* w, const float* wq, int64_t rows, int64_t cols, const Hessian& h);

// Activation outliers of the input: max_c max_t |x_tc| / mean_c rms_c with rms_c = sqrt(1/N sum_t x_tc^2)
// (the Hessian's diagonal): how many typical-channel RMSs the largest input magnitude reaches, which
// is the range a per-tensor activation scale must cover. Dimensionless, >= 1 unless the input is all
// zero (then 0). abs_max [K]: max_t |x_tc| per input channel. NaN when h has no tokens.
double activation_outlier_ratio(const std::vector<float>& abs_max, const Hessian& h);

}  // namespace quantscope
