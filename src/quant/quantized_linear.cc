#include "quant/quantized_linear.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/matmul.h"

namespace quantscope {

std::string ActQuantSpec::describe() const {
  if (bits == 0) return "";
  return fmt::format("a{} {}", bits, act_granularity_name(granularity));
}

QuantizedLinear::QuantizedLinear(std::string name, QuantizedWeight w, std::vector<float> bias, ActQuantSpec act)
    : name_(std::move(name)), w_(std::move(w)), bias_(std::move(bias)), act_(act) {}

void QuantizedLinear::release_packed_codes() {
  w_.packed.clear();
  w_.packed.shrink_to_fit();
}

uint64_t QuantizedLinear::weight_bytes() const {
  return w_.storage_bytes() + (bias_.size() + smooth_.size()) * sizeof(float);
}

void QuantizedLinear::set_smooth(std::vector<float> s) {
  if (!s.empty() && int64_t(s.size()) != w_.cols)
    fail_internal("{}: smoothing vector of {} entries for K = {}", name_, s.size(), w_.cols);
  smooth_ = std::move(s);
}

std::string QuantizedLinear::describe() const {
  std::string d = w_.spec.describe();
  if (act_.bits) d += " " + act_.describe();
  if (!smooth_.empty()) d += " smoothed";
  return d;
}

namespace {
// Index of the first NaN or infinity in y[0 .. count), or -1. A float is one iff its exponent bits are
// all set, i.e. iff (bits & 0x7f800000) + 0x00800000 carries into bit 31: blocks of 512 are OR-ed
// that way with a fixed trip count (vectorized) and searched only when one is there. A prefill output
// is megabytes, half of it just written by the other core, so the blocks are split over the threads
// (serially it took ~2% of a W4 prefill with the other thread waiting); the ranges ascend with the
// thread index, so the first hit of the lowest range is the first index.
int64_t first_non_finite_index(const float* y, int64_t count) {
  constexpr int64_t kBlock = 512;
  const auto block_has_one = [](const float* v) {
    uint32_t hit = 0;
    for (int64_t i = 0; i < kBlock; ++i) {
      uint32_t u;
      std::memcpy(&u, v + i, 4);
      hit |= (u & 0x7f800000u) + 0x00800000u;
    }
    return (hit & 0x80000000u) != 0;
  };
  const auto first_in = [&](int64_t b0, int64_t b1) -> int64_t {  // elements [b0, b1), b0 a block start
    for (int64_t b = b0; b < b1; b += kBlock)
      if (b1 - b < kBlock || block_has_one(y + b))
        for (int64_t i = b; i < std::min(b1, b + kBlock); ++i)
          if (!std::isfinite(y[i])) return i;
    return -1;
  };
  const int64_t blocks = (count + kBlock - 1) / kBlock;
  std::vector<int64_t> found(size_t(num_threads()), -1);
  parallel_blocks(blocks, [&](int t, int64_t b0, int64_t b1) {
    found[size_t(t)] = first_in(b0 * kBlock, std::min(count, b1 * kBlock));
  }, 2 * kBlock);
  for (int64_t f : found)
    if (f >= 0) return f;
  return -1;
}
}  // namespace

void QuantizedLinear::forward(const float* x, int64_t m, float* y) const {
  const int64_t n = w_.rows, k = w_.cols;
  if (w_.packed.empty() && n * k > 0) fail_internal("{}: its codes were released to a wrapper", name_);
  std::vector<float> xq;
  if (!smooth_.empty()) {
    // x / s per input channel (the weights hold W * diag(s)); a division, as the folded form would do.
    xq.assign(x, x + m * k);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < k; ++j) xq[size_t(i * k + j)] /= smooth_[size_t(j)];
    x = xq.data();
  }
  if (act_.bits) {
    if (xq.empty()) xq.assign(x, x + m * k);
    if (act_.granularity == ActGranularity::Token || !act_.calibrated)
      fake_quant_act_per_token(xq.data(), m, k, act_.bits, act_.rounding);
    else
      fake_quant_act_static(xq.data(), m * k, act_.static_params, act_.bits, act_.rounding);
    x = xq.data();
  }
  // Every output is dot_f32 of the input and the dequantized row, as a DenseLinear would compute it.
  matmul_packed(x, m, w_.kernel_view(), bias_.empty() ? nullptr : bias_.data(), y);
  const int64_t bad = first_non_finite_index(y, m * n);
  if (bad >= 0) note_non_finite({name_, "output", bad / n, bad % n, y[bad]});
}

namespace {
std::mutex g_non_finite_mutex;
std::optional<NonFiniteEvent> g_non_finite;
}  // namespace

std::optional<NonFiniteEvent> first_non_finite() {
  std::lock_guard<std::mutex> lock(g_non_finite_mutex);
  return g_non_finite;
}

void reset_non_finite() {
  std::lock_guard<std::mutex> lock(g_non_finite_mutex);
  g_non_finite.reset();
}

void note_non_finite(const NonFiniteEvent& e) {
  std::lock_guard<std::mutex> lock(g_non_finite_mutex);
  if (!g_non_finite) g_non_finite = e;
}

void NonFiniteTap::on_linear_input(int layer, TensorRole role, const float* x, int64_t m, int64_t k) {
  for (int64_t i = 0; i < m * k; ++i) {
    if (!std::isfinite(x[i])) {
      const std::string name = layer < 0 ? global_tensor_name(role) : layer_tensor_name(layer, role);
      note_non_finite({name, "input", i / k, i % k, x[i]});
      return;
    }
  }
}

std::unique_ptr<QuantizedLinear> quantized_linear_from_packed(const PackedLinear& p, std::string name) {
  const PackedCodesMatrix v = p.view();
  WeightQuantSpec spec;
  spec.bits = v.bits;
  spec.granularity = v.per_tensor ? Granularity::Tensor : v.groups > 1 ? Granularity::Group : Granularity::Channel;
  spec.group_size = spec.granularity == Granularity::Group ? v.group_size : 0;
  spec.symmetric = v.zeros == nullptr && v.zero == symmetric_zero_point(v.bits);
  const int64_t np = (v.per_tensor ? 1 : v.rows) * v.groups;
  bool f16 = true;
  for (int64_t i = 0; i < np && f16; ++i) f16 = f16_to_f32(f32_to_f16(v.scales[i])) == v.scales[i];
  spec.scale_dtype = f16 ? DType::F16 : DType::F32;
  QuantizedWeight w = QuantizedWeight::layout(v.rows, v.cols, spec);
  if (w.row_bytes() != v.row_bytes || w.group_size != v.group_size)
    fail_internal("{}: packed layout does not match a quantized weight's", name);
  std::copy(v.codes, v.codes + v.rows * v.row_bytes, w.packed.begin());
  std::copy(v.scales, v.scales + np, w.scales.begin());
  if (!spec.symmetric)
    for (int64_t i = 0; i < np; ++i) w.zeros[size_t(i)] = v.zeros ? v.zeros[i] : v.zero;
  return std::make_unique<QuantizedLinear>(std::move(name), std::move(w), p.bias());
}

}  // namespace quantscope
