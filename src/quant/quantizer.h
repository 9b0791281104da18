// The one integer quantizer every method uses (RTN, GPTQ, ... call it for their scales and codes).
//
// Weights W [rows = out features, cols = K = in features], row-major as in HF checkpoints.
// A "group" is a run of columns of one row that shares a scale (and zero point):
//   tensor  one group for the whole matrix (scale_rows = 1, groups = 1)
//   channel one group per output row (groups = 1)
//   group   ceil(K / group_size) groups per row along K; the last one is ragged when group_size does
//           not divide K (stories260K has K = 64 and 172)
// Every value is stored as an unsigned code c in [0, 2^bits - 1] and dequantized as (c - zero) * scale:
//   asymmetric  scale = (hi - lo) / (2^b - 1) over [lo, hi] = [min(w, 0), max(w, 0)],
//               zero = clamp(round(-lo / scale), 0, 2^b - 1) (an integer),
//               c = clamp(round(w / scale) + zero, 0, 2^b - 1)
//   symmetric   b >= 2: restricted range q in [-(2^(b-1) - 1), 2^(b-1) - 1], scale = absmax / (2^(b-1) - 1),
//               zero = 2^(b-1) (a constant, not stored), c = q + zero
//               b == 1: sign binarization (XNOR-Net, Rastegari et al. 2016): levels +-m with m = mean |w|,
//               stored as scale = 2m, zero = 1/2, c = (w >= 0)
// `round` is the rounding rule of the spec. The scale is rounded to its storage dtype (f32/f16/bf16)
// BEFORE codes are computed, so dequantizing the stored scale gives exactly the values the codes were
// chosen for. A group whose scale is zero (all-zero weights, or a scale that underflows its dtype) gets
// codes equal to its zero point and dequantizes to exact zeros: no division by zero anywhere.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/large_pages.h"
#include "kernels/packed_matrix.h"
#include "numerics/float_formats.h"  // round_to_dtype: scales rounded to their storage dtype
#include "numerics/rounding.h"

namespace quantscope {

enum class Granularity { Tensor, Channel, Group };

std::string_view granularity_name(Granularity g);  // "tensor", "channel", "group"
bool granularity_from_name(std::string_view s, Granularity* out);
// "f32", "f16", "bf16" (the scale/zero storage dtypes the targets describe).
bool scale_dtype_from_name(std::string_view s, DType* out);

struct WeightQuantSpec {
  int bits = 4;  // 1..8
  Granularity granularity = Granularity::Channel;
  int64_t group_size = 0;  // columns per group (Granularity::Group only)
  bool symmetric = false;
  Rounding rounding = Rounding::HalfToEven;
  DType scale_dtype = DType::F32;
  // Clipping search: per group, try range shrink ratios p = 1 - i / clip_grid for
  // i < clip_max_shrink * clip_grid and keep the one with the least squared weight error
  // (GPTQ's `mse` option, Frantar et al. 2022). Ties keep the larger ratio.
  bool clip_search = false;
  int clip_grid = 20;
  double clip_max_shrink = 0.8;

  // "w4 g32 asym", "w8 channel sym bf16-scales", ...
  std::string describe() const;
};

// Throws InputError (prefixed by `where`) for a spec no quantizer can honour.
void validate_weight_spec(const WeightQuantSpec& s, const std::string& where);


// Dequantized value = (code - zero) * scale.
struct GroupParams {
  float scale = 0.0f;
  float zero = 0.0f;
};

inline int code_max(int bits) { return (1 << bits) - 1; }
// The constant zero point of symmetric codes (see the header comment): 2^(b-1), 1/2 for b = 1.
inline float symmetric_zero_point(int bits) { return bits == 1 ? 0.5f : float(1 << (bits - 1)); }

// Params for the range [lo, hi] (the range is widened to include 0; symmetric uses max(|lo|, |hi|)).
// Not for 1-bit symmetric (that needs mean |w|: see find_params).
GroupParams params_from_range(float lo, float hi, const WeightQuantSpec& s);
// Params for n values (one group), with the clipping search when the spec asks for it.
GroupParams find_params(const float* w, int64_t n, const WeightQuantSpec& s);
// Same, over values w[idx[i]] (GPTQ with act-order visits a group's columns out of order).
GroupParams find_params_strided(const float* w, const int64_t* idx, int64_t n, const WeightQuantSpec& s);

uint8_t quantize_code(float w, const GroupParams& p, const WeightQuantSpec& s);
inline float dequantize_code(uint8_t c, const GroupParams& p) { return (float(c) - p.zero) * p.scale; }
// dequantize(quantize(w)).
inline float fake_quantize(float w, const GroupParams& p, const WeightQuantSpec& s) {
  return dequantize_code(quantize_code(w, p, s), p);
}

// A quantized weight matrix. Codes are held packed to `bits` (packed_row_bytes per row, the layout of
// kernels/packed_matrix.h, which the kernels read in place and the saved model stores as is), so a W4
// matrix takes half a byte per weight in memory too.
struct QuantizedWeight {
  WeightQuantSpec spec;
  int64_t rows = 0, cols = 0;
  int64_t group_size = 0;  // columns per group (cols for tensor/channel)
  int64_t groups = 0;      // groups per row
  int64_t scale_rows = 0;  // 1 for per-tensor, rows otherwise
  LargeVector<uint8_t> packed;  // [rows, packed_row_bytes(cols, bits)]; streamed per token: core/large_pages.h
  std::vector<float> scales;    // [scale_rows, groups], values exactly representable in spec.scale_dtype
  std::vector<float> zeros;     // [scale_rows, groups]; asymmetric only (integers)

  // An empty matrix of this layout (codes 0, scales 0).
  static QuantizedWeight layout(int64_t rows, int64_t cols, const WeightQuantSpec& s);
  GroupParams params(int64_t r, int64_t g) const;
  void set_params(int64_t r, int64_t g, const GroupParams& p);
  int64_t row_bytes() const;
  uint8_t code(int64_t r, int64_t c) const;
  // Writes one code. Rows are byte-aligned, so threads writing different rows never share a byte;
  // codes of one row must be written by one thread.
  void set_code(int64_t r, int64_t c, uint8_t v);
  std::vector<uint8_t> unpacked_codes() const;  // [rows, cols], one byte per code
  // What the kernels read: the packed codes, scales and zero points (pointers into this object).
  PackedCodesMatrix kernel_view() const;
  void dequantize_row(int64_t r, float* out) const;  // cols floats
  std::vector<float> dequantize() const;             // [rows, cols]
  // Storage: codes packed to `bits`, scales in their dtype, zeros in one byte each.
  uint64_t storage_bytes() const;
  double bits_per_weight() const { return 8.0 * double(storage_bytes()) / double(rows * cols); }
};

// Round-to-nearest quantization of w [rows, cols] with `s` (params from each group's own values).
QuantizedWeight quantize_weight(const float* w, int64_t rows, int64_t cols, const WeightQuantSpec& s);

// Codes [rows, cols] <-> rows packed little-endian-bitwise to `bits`, each row padded to a whole byte
// (row bytes = ceil(cols * bits / 8)), so a row is dequantized without touching its neighbours.
int64_t packed_row_bytes(int64_t cols, int bits);
std::vector<uint8_t> pack_codes(const std::vector<uint8_t>& codes, int64_t rows, int64_t cols, int bits);
std::vector<uint8_t> unpack_codes(const uint8_t* packed, int64_t rows, int64_t cols, int bits);

// ||W - dequant||_F / ||W||_F (0 when W is all zero).
double relative_weight_error(const float* w, const QuantizedWeight& q);
// The same against an fp32 matrix wq of n values (e.g. AWQ's effective weight dequant / s).
double relative_weight_error(const float* w, const float* wq, int64_t n);

// ---- Activation quantization (fake-quant: values are quantized and dequantized in place) ----

enum class ActGranularity { Token, Tensor };
std::string_view act_granularity_name(ActGranularity g);
bool act_granularity_from_name(std::string_view s, ActGranularity* out);

// Per-token dynamic symmetric: each row of x [m, k] gets scale = absmax(row) / (2^(b-1) - 1).
void fake_quant_act_per_token(float* x, int64_t m, int64_t k, int bits, Rounding r);
// Per-tensor static asymmetric: params from a calibrated range [lo, hi] (scale in fp32, integer zero).
GroupParams act_params_static(float lo, float hi, int bits, Rounding r);
void fake_quant_act_static(float* x, int64_t n, const GroupParams& p, int bits, Rounding r);

// Calibration range of activations: exact min/max, plus a deterministic subsample (every stride-th
// value, stride doubling whenever 2^20 values are held) for percentile ranges.
class ActRangeObserver {
 public:
  void observe(const float* x, int64_t n);
  float min() const { return min_; }
  float max() const { return max_; }
  // [lo, hi] at the (100 - pct) and pct percentiles of the sample (pct in (50, 100]); pct 100 is min/max.
  void percentile_range(double pct, float* lo, float* hi) const;
  int64_t count() const { return count_; }

 private:
  float min_ = 0.0f, max_ = 0.0f;
  int64_t count_ = 0, stride_ = 1, phase_ = 0;
  std::vector<float> sample_;
};

}  // namespace quantscope
