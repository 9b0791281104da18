#include "quant/calibration.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/parallel.h"
#include "kernels/gemm.h"
#include "kernels/syrk.h"

namespace quantscope {

int64_t CalibrationSet::tokens() const {
  int64_t n = 0;
  for (const auto& s : samples) n += int64_t(s.size());
  return n;
}

nlohmann::json CalibrationSet::to_json() const {
  nlohmann::json j;
  j["files"] = options.files;
  j["nsamples"] = options.nsamples;
  j["seqlen"] = options.seqlen;
  j["seed"] = options.seed;
  j["stream_tokens"] = stream_tokens;
  j["hash"] = hash;
  j["hash_kind"] = "fnv1a64 of int32 token ids";
  return j;
}

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

CalibrationSet build_calibration_from_stream(const std::vector<int>& stream, const CalibrationOptions& o, int bos_id) {
  if (o.nsamples <= 0) fail_input("--nsamples must be positive (got {})", o.nsamples);
  if (o.seqlen < 2) fail_input("--seqlen must be at least 2 (got {})", o.seqlen);
  const int64_t body = o.seqlen - 1;
  if (int64_t(stream.size()) < body)
    fail_input("calibration text has {} tokens, fewer than one sample of {} (--seqlen {})", stream.size(), body,
               o.seqlen);
  CalibrationSet c;
  c.options = o;
  c.stream_tokens = int64_t(stream.size());
  std::mt19937_64 rng(o.seed);
  const uint64_t starts = uint64_t(int64_t(stream.size()) - body + 1);
  uint64_t h = kFnvOffset;
  for (int64_t s = 0; s < o.nsamples; ++s) {
    // Modulo bias is below 2^-40 for any realistic text; what matters is that the draw is reproducible.
    const uint64_t start = rng() % starts;
    std::vector<int> sample;
    sample.reserve(size_t(o.seqlen));
    sample.push_back(bos_id);
    sample.insert(sample.end(), stream.begin() + int64_t(start), stream.begin() + int64_t(start) + body);
    for (int t : sample) {
      const int32_t v = t;
      uint8_t b[4] = {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)};
      h = fnv1a64(b, 4, h);
    }
    c.samples.push_back(std::move(sample));
  }
  c.hash = fmt::format("{:016x}", h);
  return c;
}

CalibrationSet build_calibration(const Tokenizer& tok, const CalibrationOptions& o, int bos_id) {
  if (o.files.empty()) fail_input("no calibration files given (--calib FILE...)");
  std::string text;
  for (size_t i = 0; i < o.files.size(); ++i) {
    if (i) text += "\n";
    text += read_text_file(o.files[i]);
  }
  return build_calibration_from_stream(tok.encode(text, false), o, bos_id);
}

void Hessian::add(const float* x, int64_t m) {
  // H += x^T x: each element one chain of exact products added in token order (kernels/syrk.h:
  // bit-identical for any thread count and ISA); the lower triangle computed, the upper mirrored.
  accumulate_xtx_f64(x, m, k_, h_.data());
  tokens_ += m;
}

double relative_output_error(const float* w, const float* wq, int64_t rows, int64_t cols, const Hessian& h) {
  if (h.k() != cols) fail_internal("relative_output_error: Hessian is {}x{} but K = {}", h.k(), h.k(), cols);
  // A report metric, so it runs on the fp32 GEMM (rows x K x K multiply-adds twice: at K = 6144 a
  // double loop took ~30 s per tensor, longer than quantizing it): G = D H with H rounded to fp32,
  // then sum_j d_j G_j in double. The fp32 sums carry a relative error of about K/16 * 2^-24 of
  // sum_j |H_ij d_j| (~1e-5 at K = 6144), ample for a figure printed with 4 digits. Deterministic:
  // gemm_nt_f32 fixes each element's arithmetic (H is symmetric, so D H = D H^T is an NT product).
  std::vector<float> hf(size_t(cols * cols));
  for (int64_t i = 0; i < cols * cols; ++i) hf[size_t(i)] = float(h.data()[i]);
  constexpr int64_t kRows = 256;  // rows per pass: bounds the scratch to 2 x 256 x K floats
  std::vector<float> d(size_t(std::min(rows, kRows) * cols)), g(d.size());
  double num = 0, den = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += kRows) {
    const int64_t nr = std::min(kRows, rows - r0);
    const float* wr = w + r0 * cols;
    for (int64_t i = 0; i < nr * cols; ++i) d[size_t(i)] = float(double(wr[i]) - double(wq[r0 * cols + i]));
    gemm_nt_f32(d.data(), cols, hf.data(), cols, nr, cols, cols, g.data(), cols);
    for (int64_t i = 0; i < nr * cols; ++i) num += double(d[size_t(i)]) * double(g[size_t(i)]);
    gemm_nt_f32(wr, cols, hf.data(), cols, nr, cols, cols, g.data(), cols);
    for (int64_t i = 0; i < nr * cols; ++i) den += double(wr[i]) * double(g[size_t(i)]);
  }
  return den > 0 ? std::sqrt(std::max(num, 0.0) / den) : 0.0;
}

double hessian_trace(const Hessian& h) {
  if (h.tokens() == 0) return std::numeric_limits<double>::quiet_NaN();
  double diag = 0;  // sum_t ||x_t||^2
  for (int64_t i = 0; i < h.k(); ++i) diag += h.at(i, i);
  return 2.0 * diag / double(h.tokens());
}

double hessian_weighted_error(const float* w, const float* wq, int64_t rows, int64_t cols, const Hessian& h) {
  if (h.k() != cols) fail_internal("hessian_weighted_error: Hessian is {}x{} but K = {}", h.k(), h.k(), cols);
  double sq = 0;  // ||W - Wq||_F^2
  for (int64_t i = 0; i < rows * cols; ++i) {
    const double d = double(w[i]) - double(wq[i]);
    sq += d * d;
  }
  return hessian_trace(h) / double(cols) * sq;
}

double activation_outlier_ratio(const std::vector<float>& abs_max, const Hessian& h) {
  if (h.tokens() == 0) return std::numeric_limits<double>::quiet_NaN();
  if (int64_t(abs_max.size()) != h.k())
    fail_internal("activation_outlier_ratio: {} channel maxima but K = {}", abs_max.size(), h.k());
  double peak = 0, rms_sum = 0;
  for (int64_t c = 0; c < h.k(); ++c) {
    peak = std::max(peak, double(abs_max[size_t(c)]));
    rms_sum += std::sqrt(h.at(c, c) / double(h.tokens()));
  }
  return rms_sum > 0 ? peak / (rms_sum / double(h.k())) : 0.0;
}

double relative_output_error(const float* w, const QuantizedWeight& q, const Hessian& h) {
  const std::vector<float> wq = q.dequantize();
  return relative_output_error(w, wq.data(), q.rows, q.cols, h);
}

}  // namespace quantscope
