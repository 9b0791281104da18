#include "quant/calibration.h"

#include <fmt/format.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/parallel.h"
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
  std::vector<double> num(static_cast<size_t>(rows)), den(static_cast<size_t>(rows));
  // Tiles of kRows weight rows share each pass over H (K^2 doubles, far larger than the caches at
  // K = 6144): one H row read serves kRows rows, whose differences are interleaved [j][row] so the
  // row loop vectorizes. Every row's sums run over j in order exactly as a row-at-a-time loop would.
  constexpr int64_t kRows = 16;
  const int64_t tiles = (rows + kRows - 1) / kRows;
  parallel_for(0, tiles, [&](int64_t t) {
    const int64_t r0 = t * kRows, nr = std::min(kRows, rows - r0);
    std::vector<double> d(size_t(cols * kRows), 0.0), a(size_t(cols * kRows), 0.0);
    for (int64_t rr = 0; rr < nr; ++rr)
      for (int64_t j = 0; j < cols; ++j) {
        const double wv = w[(r0 + rr) * cols + j];
        a[size_t(j * kRows + rr)] = wv;
        d[size_t(j * kRows + rr)] = wv - double(wq[(r0 + rr) * cols + j]);
      }
    double sn[kRows] = {}, sd[kRows] = {};
    for (int64_t i = 0; i < cols; ++i) {
      const double* hi = h.data() + i * cols;
      double tn[kRows] = {}, td[kRows] = {};
      for (int64_t j = 0; j < cols; ++j) {
        const double hv = hi[j];
        const double* dj = d.data() + j * kRows;
        const double* aj = a.data() + j * kRows;
        for (int64_t rr = 0; rr < kRows; ++rr) {
          tn[rr] += hv * dj[rr];
          td[rr] += hv * aj[rr];
        }
      }
      for (int64_t rr = 0; rr < kRows; ++rr) {
        sn[rr] += d[size_t(i * kRows + rr)] * tn[rr];
        sd[rr] += a[size_t(i * kRows + rr)] * td[rr];
      }
    }
    for (int64_t rr = 0; rr < nr; ++rr) {
      num[size_t(r0 + rr)] = sn[rr];
      den[size_t(r0 + rr)] = sd[rr];
    }
  }, 4 * kRows * cols * cols);
  double n = 0, d = 0;
  for (int64_t r = 0; r < rows; ++r) {
    n += num[size_t(r)];
    d += den[size_t(r)];
  }
  return d > 0 ? std::sqrt(std::max(n, 0.0) / d) : 0.0;
}

double relative_output_error(const float* w, const QuantizedWeight& q, const Hessian& h) {
  const std::vector<float> wq = q.dequantize();
  return relative_output_error(w, wq.data(), q.rows, q.cols, h);
}

}  // namespace quantscope
