// KV-cache quantization (emulated): keys and values are quantized to int8/int4 and dequantized as they
// are written to the cache, so attention reads exactly the values an integer cache would hold.
//   token    one symmetric scale per (position, KV head) over its head_dim values, computed when the
//            position is written (dynamic; what per-token KV schemes such as KIVI's value cache do)
//   channel  one symmetric scale per (layer, KV channel), static, from the absolute maxima seen on
//            calibration data (keys have outlier channels, so per-channel scales suit them: KIVI,
//            Liu et al. 2024, arXiv:2402.02750); values beyond the calibrated range saturate
// Keys are quantized after RoPE (the cache holds rotated keys).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "numerics/rounding.h"

namespace quantscope {

enum class KVGranularity { Token, Channel };
std::string_view kv_granularity_name(KVGranularity g);  // "token", "channel"
bool kv_granularity_from_name(std::string_view s, KVGranularity* out);

struct KVCacheQuant {
  int bits = 0;  // 0: fp32 cache; else 4 or 8
  KVGranularity granularity = KVGranularity::Token;
  Rounding rounding = Rounding::HalfToEven;
  // Channel granularity: [num_layers * kv_dim] scales (fp32) of keys and values.
  std::vector<float> k_scale, v_scale;

  bool enabled() const { return bits != 0; }
  bool needs_calibration() const { return enabled() && granularity == KVGranularity::Channel; }
  std::string describe() const;  // "fp32", "kv8 token", "kv4 channel"

  // Quantizes and dequantizes, in place, the key and value rows ([kv_heads * head_dim] each) of one
  // position of `layer`.
  void apply(int layer, float* k, float* v, int kv_heads, int head_dim) const;
};

// Per-channel absolute maxima of keys and values over calibration positions, for channel scales.
class KVRangeObserver {
 public:
  KVRangeObserver(int num_layers, int64_t kv_dim);
  void observe(int layer, const float* k, const float* v, int64_t n);  // [n, kv_dim] each
  // Scales absmax / qmax (a zero channel gets scale 0: it stays exactly zero).
  void set_scales(KVCacheQuant* q) const;

 private:
  int64_t kv_dim_;
  std::vector<float> k_absmax_, v_absmax_;
};

}  // namespace quantscope
