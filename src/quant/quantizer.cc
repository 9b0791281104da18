#include "quant/quantizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/parallel.h"

namespace quantscope {

std::string_view granularity_name(Granularity g) {
  switch (g) {
    case Granularity::Tensor: return "tensor";
    case Granularity::Channel: return "channel";
    case Granularity::Group: return "group";
  }
  return "?";
}

bool granularity_from_name(std::string_view s, Granularity* out) {
  if (s == "tensor") *out = Granularity::Tensor;
  else if (s == "channel") *out = Granularity::Channel;
  else if (s == "group") *out = Granularity::Group;
  else return false;
  return true;
}

bool scale_dtype_from_name(std::string_view s, DType* out) {
  if (s == "f32" || s == "fp32") *out = DType::F32;
  else if (s == "f16" || s == "fp16") *out = DType::F16;
  else if (s == "bf16") *out = DType::BF16;
  else return false;
  return true;
}

std::string WeightQuantSpec::describe() const {
  std::string g = granularity == Granularity::Group ? fmt::format("g{}", group_size) : std::string(granularity_name(granularity));
  std::string d = fmt::format("w{} {} {}", bits, g, symmetric ? "sym" : "asym");
  if (scale_dtype != DType::F32) d += fmt::format(" {}-scales", dtype_name(scale_dtype));
  if (rounding != Rounding::HalfToEven) d += " half-away";
  if (clip_search) d += " clip";
  return d;
}

void validate_weight_spec(const WeightQuantSpec& s, const std::string& where) {
  if (s.bits < 1 || s.bits > 8) fail_input("{}: w_bits {} is outside 1..8", where, s.bits);
  if (s.granularity == Granularity::Group && s.group_size <= 0)
    fail_input("{}: granularity 'group' needs a positive group_size (got {})", where, s.group_size);
  if (s.scale_dtype != DType::F32 && s.scale_dtype != DType::F16 && s.scale_dtype != DType::BF16)
    fail_input("{}: scale_dtype must be f32, f16 or bf16", where);
  if (s.clip_search && (s.clip_grid < 1 || !(s.clip_max_shrink > 0.0 && s.clip_max_shrink < 1.0)))
    fail_input("{}: clip search needs clip_grid >= 1 and 0 < clip_max_shrink < 1", where);
}

namespace {

// Stored scale: rounded to the dtype; a value that overflows it is bad input (weights ~1e4+ in f16).
float store_scale(float s, const WeightQuantSpec& spec) {
  const float r = round_to_dtype(s, spec.scale_dtype);
  if (!std::isfinite(r))
    fail_input("quantization scale {} does not fit in {} (weights too large for this scale dtype)", s,
               dtype_name(spec.scale_dtype));
  return r;
}

GroupParams sign_params(double mean_abs, const WeightQuantSpec& s) {
  GroupParams p;
  p.scale = store_scale(float(2.0 * mean_abs), s);
  p.zero = 0.5f;
  return p;
}

template <typename Get>
GroupParams find_params_impl(int64_t n, const Get& get, const WeightQuantSpec& s) {
  if (s.symmetric && s.bits == 1) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::fabs(double(get(i)));
    return sign_params(n > 0 ? sum / double(n) : 0.0, s);
  }
  float lo = 0.0f, hi = 0.0f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = get(i);
    if (!std::isfinite(v)) fail_input("cannot quantize a non-finite weight ({})", v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  GroupParams best = params_from_range(lo, hi, s);
  if (!s.clip_search || best.scale == 0.0f) return best;
  auto sq_error = [&](const GroupParams& p) {
    double e = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double d = double(fake_quantize(get(i), p, s)) - double(get(i));
      e += d * d;
    }
    return e;
  };
  double best_err = sq_error(best);
  const int steps = int(s.clip_max_shrink * s.clip_grid);
  for (int i = 1; i < steps; ++i) {
    const float ratio = float(1.0 - double(i) / double(s.clip_grid));
    const GroupParams p = params_from_range(lo * ratio, hi * ratio, s);
    const double e = sq_error(p);
    if (e < best_err) {
      best_err = e;
      best = p;
    }
  }
  return best;
}

}  // namespace

GroupParams params_from_range(float lo, float hi, const WeightQuantSpec& s) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  GroupParams p;
  if (s.symmetric) {
    if (s.bits == 1) fail_internal("params_from_range: 1-bit symmetric needs mean |w| (find_params)");
    const int qpos = (1 << (s.bits - 1)) - 1;
    p.scale = store_scale(std::max(-lo, hi) / float(qpos), s);
    p.zero = float(1 << (s.bits - 1));
    return p;
  }
  const int qmax = code_max(s.bits);
  p.scale = store_scale((hi - lo) / float(qmax), s);
  p.zero = p.scale == 0.0f ? 0.0f : std::clamp(round_value(-lo / p.scale, s.rounding), 0.0f, float(qmax));
  return p;
}

GroupParams find_params(const float* w, int64_t n, const WeightQuantSpec& s) {
  return find_params_impl(n, [w](int64_t i) { return w[i]; }, s);
}

GroupParams find_params_strided(const float* w, const int64_t* idx, int64_t n, const WeightQuantSpec& s) {
  return find_params_impl(n, [w, idx](int64_t i) { return w[idx[i]]; }, s);
}

uint8_t quantize_code(float w, const GroupParams& p, const WeightQuantSpec& s) {
  if (s.symmetric && s.bits == 1) return w >= 0.0f ? 1 : 0;  // a zero scale dequantizes both to 0
  if (p.scale == 0.0f) return uint8_t(p.zero);
  const float q = round_value(w / p.scale, s.rounding) + p.zero;
  float lo = 0.0f, hi = float(code_max(s.bits));
  if (s.symmetric) lo = 1.0f;  // restricted range: code 0 (= -2^(b-1)) is never produced
  return uint8_t(std::clamp(q, lo, hi));  // NaN cannot reach here (checked in find_params)
}

QuantizedWeight QuantizedWeight::layout(int64_t rows, int64_t cols, const WeightQuantSpec& s) {
  QuantizedWeight q;
  q.spec = s;
  q.rows = rows;
  q.cols = cols;
  q.group_size = s.granularity == Granularity::Group ? std::min(s.group_size, cols) : cols;
  q.groups = (cols + q.group_size - 1) / q.group_size;
  q.scale_rows = s.granularity == Granularity::Tensor ? 1 : rows;
  q.packed.assign(size_t(rows * packed_row_bytes(cols, s.bits)), 0);
  q.scales.assign(size_t(q.scale_rows * q.groups), 0.0f);
  if (!s.symmetric) q.zeros.assign(q.scales.size(), 0.0f);
  return q;
}

GroupParams QuantizedWeight::params(int64_t r, int64_t g) const {
  const size_t i = size_t((scale_rows == 1 ? 0 : r) * groups + g);
  GroupParams p;
  p.scale = scales[i];
  if (spec.symmetric) p.zero = symmetric_zero_point(spec.bits);
  else p.zero = zeros[i];
  return p;
}

void QuantizedWeight::set_params(int64_t r, int64_t g, const GroupParams& p) {
  const size_t i = size_t((scale_rows == 1 ? 0 : r) * groups + g);
  scales[i] = p.scale;
  if (!spec.symmetric) zeros[i] = p.zero;
}

int64_t QuantizedWeight::row_bytes() const { return packed_row_bytes(cols, spec.bits); }

uint8_t QuantizedWeight::code(int64_t r, int64_t c) const {
  const uint8_t* row = packed.data() + r * row_bytes();
  const int64_t bit = c * spec.bits;
  uint32_t v = uint32_t(row[bit / 8]) >> (bit % 8);
  if ((bit % 8) + spec.bits > 8) v |= uint32_t(row[bit / 8 + 1]) << (8 - bit % 8);
  return uint8_t(v & uint32_t(code_max(spec.bits)));
}

void QuantizedWeight::set_code(int64_t r, int64_t c, uint8_t v) {
  uint8_t* row = packed.data() + r * row_bytes();
  const int64_t bit = c * spec.bits;
  // The code's bits, and the mask of its place, shifted to its bit offset; they span at most two bytes.
  const uint32_t mask = uint32_t(code_max(spec.bits)) << (bit % 8);
  const uint32_t value = (uint32_t(v) << (bit % 8)) & mask;
  row[bit / 8] = uint8_t((row[bit / 8] & ~mask) | value);
  if ((bit % 8) + spec.bits > 8)
    row[bit / 8 + 1] = uint8_t((row[bit / 8 + 1] & ~(mask >> 8)) | (value >> 8));
}

std::vector<uint8_t> QuantizedWeight::unpacked_codes() const {
  return unpack_codes(packed.data(), rows, cols, spec.bits);
}

PackedCodesMatrix QuantizedWeight::kernel_view() const {
  PackedCodesMatrix v;
  v.bits = spec.bits;
  v.rows = rows;
  v.cols = cols;
  v.group_size = group_size;
  v.groups = groups;
  v.per_tensor = scale_rows == 1;
  v.codes = packed.data();
  v.row_bytes = row_bytes();
  v.scales = scales.data();
  if (spec.symmetric) v.zero = symmetric_zero_point(spec.bits);
  else v.zeros = zeros.data();
  return v;
}

void QuantizedWeight::dequantize_row(int64_t r, float* out) const {
  // The kernels' decoder: (code - zero) * scale in fp32, the formula dequantize_code computes.
  packed_dequantize_row(kernel_view(), r, out);
}

std::vector<float> QuantizedWeight::dequantize() const {
  std::vector<float> w(size_t(rows * cols));
  parallel_for(0, rows, [&](int64_t r) { dequantize_row(r, w.data() + r * cols); }, 4 * cols);
  return w;
}

uint64_t QuantizedWeight::storage_bytes() const {
  return uint64_t(rows) * uint64_t(packed_row_bytes(cols, spec.bits)) + scales.size() * dtype_size(spec.scale_dtype) +
         zeros.size();
}

QuantizedWeight quantize_weight(const float* w, int64_t rows, int64_t cols, const WeightQuantSpec& s) {
  validate_weight_spec(s, "quantize_weight");
  QuantizedWeight q = QuantizedWeight::layout(rows, cols, s);
  if (s.granularity == Granularity::Tensor) q.set_params(0, 0, find_params(w, rows * cols, s));
  // Rows are independent (each writes only its own params and codes).
  parallel_for(0, rows, [&](int64_t r) {
    for (int64_t g = 0; g < q.groups; ++g) {
      const int64_t c0 = g * q.group_size, c1 = std::min(cols, c0 + q.group_size);
      if (s.granularity != Granularity::Tensor) q.set_params(r, g, find_params(w + r * cols + c0, c1 - c0, s));
      const GroupParams p = q.params(r, g);
      for (int64_t j = c0; j < c1; ++j) q.set_code(r, j, quantize_code(w[r * cols + j], p, s));
    }
  }, 20 * cols * (s.clip_search ? s.clip_grid : 1));
  return q;
}

int64_t packed_row_bytes(int64_t cols, int bits) { return (cols * bits + 7) / 8; }

std::vector<uint8_t> pack_codes(const std::vector<uint8_t>& codes, int64_t rows, int64_t cols, int bits) {
  const int64_t rb = packed_row_bytes(cols, bits);
  std::vector<uint8_t> out(size_t(rows * rb), 0);
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = out.data() + r * rb;
    for (int64_t j = 0; j < cols; ++j) {
      const uint32_t c = codes[size_t(r * cols + j)];
      const int64_t bit = j * bits;
      // A code spans at most two bytes (bits <= 8).
      const uint32_t shifted = c << (bit % 8);
      dst[bit / 8] |= uint8_t(shifted & 0xffu);
      if ((bit % 8) + bits > 8) dst[bit / 8 + 1] |= uint8_t(shifted >> 8);
    }
  }
  return out;
}

std::vector<uint8_t> unpack_codes(const uint8_t* packed, int64_t rows, int64_t cols, int bits) {
  const int64_t rb = packed_row_bytes(cols, bits);
  const uint32_t mask = uint32_t(code_max(bits));
  std::vector<uint8_t> out(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* src = packed + r * rb;
    for (int64_t j = 0; j < cols; ++j) {
      const int64_t bit = j * bits;
      uint32_t v = uint32_t(src[bit / 8]) >> (bit % 8);
      if ((bit % 8) + bits > 8) v |= uint32_t(src[bit / 8 + 1]) << (8 - bit % 8);
      out[size_t(r * cols + j)] = uint8_t(v & mask);
    }
  }
  return out;
}

double relative_weight_error(const float* w, const float* wq, int64_t n) {
  double num = 0, den = 0;
  for (int64_t e = 0; e < n; ++e) {
    const double a = w[e], d = a - double(wq[e]);
    num += d * d;
    den += a * a;
  }
  return den > 0 ? std::sqrt(num / den) : 0.0;
}

double relative_weight_error(const float* w, const QuantizedWeight& q) {
  const std::vector<float> wq = q.dequantize();
  return relative_weight_error(w, wq.data(), q.rows * q.cols);
}

// ---- activations ----

std::string_view act_granularity_name(ActGranularity g) { return g == ActGranularity::Token ? "token" : "tensor"; }

bool act_granularity_from_name(std::string_view s, ActGranularity* out) {
  if (s == "token") *out = ActGranularity::Token;
  else if (s == "tensor") *out = ActGranularity::Tensor;
  else return false;
  return true;
}

void fake_quant_act_per_token(float* x, int64_t m, int64_t k, int bits, Rounding r) {
  // A non-finite row stays as it is (the caller reports where it appeared); a zero row stays zero.
  for (int64_t i = 0; i < m; ++i) fake_quant_symmetric_dynamic(x + i * k, k, bits, r);
}

GroupParams act_params_static(float lo, float hi, int bits, Rounding r) {
  WeightQuantSpec s;
  s.bits = bits;
  s.symmetric = false;
  s.rounding = r;
  return params_from_range(lo, hi, s);
}

void fake_quant_act_static(float* x, int64_t n, const GroupParams& p, int bits, Rounding r) {
  if (p.scale == 0.0f) return;
  const float qmax = float(code_max(bits));
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    const float q = std::clamp(round_value(x[i] / p.scale, r) + p.zero, 0.0f, qmax);
    x[i] = (q - p.zero) * p.scale;
  }
}

void ActRangeObserver::observe(const float* x, int64_t n) {
  constexpr size_t kMaxSample = size_t(1) << 20;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!std::isfinite(v)) continue;
    if (count_ == 0) min_ = max_ = v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
    ++count_;
    if (++phase_ >= stride_) {
      phase_ = 0;
      sample_.push_back(v);
      if (sample_.size() >= kMaxSample) {
        // Keep every other value and halve the sampling rate: deterministic, bounded memory.
        size_t w = 0;
        for (size_t j = 0; j < sample_.size(); j += 2) sample_[w++] = sample_[j];
        sample_.resize(w);
        stride_ *= 2;
      }
    }
  }
}

void ActRangeObserver::percentile_range(double pct, float* lo, float* hi) const {
  if (pct >= 100.0 || sample_.empty()) {
    *lo = min_;
    *hi = max_;
    return;
  }
  std::vector<float> s = sample_;
  std::sort(s.begin(), s.end());
  const double n1 = double(s.size() - 1);
  *hi = s[size_t(std::llround(n1 * pct / 100.0))];
  *lo = s[size_t(std::llround(n1 * (100.0 - pct) / 100.0))];
}

}  // namespace quantscope
