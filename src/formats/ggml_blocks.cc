#include "formats/ggml_blocks.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <iterator>

#include "core/dtype.h"
#include "core/error.h"

// Bit-exactness with llama.cpp's references needs each product rounded to fp32 before the add that
// follows (x * id + 8.5f, q * d + m). GCC contracts those into FMAs in C++ by default whenever the
// target has FMA (-march=native), which flips some Q4_0 codes; forbid it for this file.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace quantscope {

const GgmlTypeTraits* find_ggml_type(uint32_t id) {
  for (const GgmlTypeTraits& t : kGgmlTypes)
    if (uint32_t(t.type) == id) return &t;
  return nullptr;
}

const GgmlTypeTraits& ggml_traits(GgmlType t) {
  const GgmlTypeTraits* tr = find_ggml_type(uint32_t(t));
  if (!tr) fail_internal("ggml_traits: ggml type id {} is not supported", uint32_t(t));
  return *tr;
}

std::string_view ggml_type_name(uint32_t id) {
  // Every id ggml has assigned; the empty slots were removed types ggml no longer reads either.
  static constexpr std::string_view kNames[] = {
      "f32",     "f16",    "q4_0",    "q4_1",   "",       "",       "q5_0",     "q5_1",     "q8_0",
      "q8_1",    "q2_K",   "q3_K",    "q4_K",   "q5_K",   "q6_K",   "q8_K",     "iq2_xxs",  "iq2_xs",
      "iq3_xxs", "iq1_s",  "iq4_nl",  "iq3_s",  "iq2_s",  "iq4_xs", "i8",       "i16",      "i32",
      "i64",     "f64",    "iq1_m",   "bf16",   "",       "",       "",         "tq1_0",    "tq2_0",
      "",        "",       "",        "mxfp4",  "nvfp4",  "q1_0",
  };
  if (id < std::size(kNames) && !kNames[id].empty()) return kNames[id];
  return "unknown";
}

std::string_view ggml_supported_types() { return "f32, f16, bf16, q4_0, q4_1, q8_0"; }

namespace {

void check_blocks(int64_t k, int64_t qk, std::string_view what) {
  if (k < 0 || k % qk != 0)
    fail_internal("{}: {} elements is not a whole number of {}-element blocks", what, k, qk);
}

// Float -> code conversions with the C truncation llama.cpp relies on ((int8_t)(float)), made total:
// NaN and out-of-range values clamp instead of being undefined behaviour.
uint8_t nibble_from(float t) {
  if (!(t >= 0.0f)) return 0;  // also NaN; finite inputs in (-1, 0) truncate to 0 in C as well
  if (t >= 15.0f) return 15;
  return uint8_t(int(t));
}

int8_t q8_from(float t) {
  const float r = std::round(t);  // half away from zero, like roundf
  if (!(r >= -128.0f)) return r < 0.0f ? int8_t(-128) : int8_t(0);  // -inf or NaN
  if (r > 127.0f) return 127;
  return int8_t(int(r));
}

}  // namespace

void quantize_row_q8_0_ref(const float* x, void* y, int64_t k) {
  check_blocks(k, kQK8_0, "quantize_row_q8_0_ref");
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t b = 0; b < k / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    float amax = 0.0f;
    for (int64_t j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 blk;
    blk.d = f32_to_f16(d);
    for (int64_t j = 0; j < kQK8_0; ++j) blk.qs[j] = q8_from(xb[j] * id);
    std::memcpy(out + b * sizeof(BlockQ8_0), &blk, sizeof(blk));
  }
}

void quantize_row_q4_0_ref(const float* x, void* y, int64_t k) {
  check_blocks(k, kQK4_0, "quantize_row_q4_0_ref");
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t b = 0; b < k / kQK4_0; ++b) {
    const float* xb = x + b * kQK4_0;
    // The signed value of largest magnitude, so that it maps exactly onto code 0 (-8 * d).
    float amax = 0.0f, max = 0.0f;
    for (int64_t j = 0; j < kQK4_0; ++j) {
      if (amax < std::fabs(xb[j])) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 blk;
    blk.d = f32_to_f16(d);
    for (int64_t j = 0; j < kQK4_0 / 2; ++j) {
      const uint8_t lo = nibble_from(xb[j] * id + 8.5f);
      const uint8_t hi = nibble_from(xb[j + kQK4_0 / 2] * id + 8.5f);
      blk.qs[j] = uint8_t(lo | (hi << 4));
    }
    std::memcpy(out + b * sizeof(BlockQ4_0), &blk, sizeof(blk));
  }
}

void quantize_row_q4_1_ref(const float* x, void* y, int64_t k) {
  check_blocks(k, kQK4_1, "quantize_row_q4_1_ref");
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t b = 0; b < k / kQK4_1; ++b) {
    const float* xb = x + b * kQK4_1;
    float min = FLT_MAX, max = -FLT_MAX;
    for (int64_t j = 0; j < kQK4_1; ++j) {
      if (xb[j] < min) min = xb[j];
      if (xb[j] > max) max = xb[j];
    }
    const float d = (max - min) / 15.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_1 blk;
    blk.d = f32_to_f16(d);
    blk.m = f32_to_f16(min);
    // Codes come from the fp32 min and 1/d, not their fp16 roundings: the reference does the same.
    for (int64_t j = 0; j < kQK4_1 / 2; ++j) {
      const uint8_t lo = nibble_from((xb[j] - min) * id + 0.5f);
      const uint8_t hi = nibble_from((xb[j + kQK4_1 / 2] - min) * id + 0.5f);
      blk.qs[j] = uint8_t(lo | (hi << 4));
    }
    std::memcpy(out + b * sizeof(BlockQ4_1), &blk, sizeof(blk));
  }
}

void dequantize_row_q8_0(const void* x, float* y, int64_t k) {
  check_blocks(k, kQK8_0, "dequantize_row_q8_0");
  const auto* in = static_cast<const uint8_t*>(x);
  for (int64_t b = 0; b < k / kQK8_0; ++b) {
    BlockQ8_0 blk;
    std::memcpy(&blk, in + b * sizeof(BlockQ8_0), sizeof(blk));
    const float d = f16_to_f32(blk.d);
    for (int64_t j = 0; j < kQK8_0; ++j) y[b * kQK8_0 + j] = float(blk.qs[j]) * d;
  }
}

void dequantize_row_q4_0(const void* x, float* y, int64_t k) {
  check_blocks(k, kQK4_0, "dequantize_row_q4_0");
  const auto* in = static_cast<const uint8_t*>(x);
  for (int64_t b = 0; b < k / kQK4_0; ++b) {
    BlockQ4_0 blk;
    std::memcpy(&blk, in + b * sizeof(BlockQ4_0), sizeof(blk));
    const float d = f16_to_f32(blk.d);
    float* yb = y + b * kQK4_0;
    for (int64_t j = 0; j < kQK4_0 / 2; ++j) {
      yb[j] = float(int(blk.qs[j] & 0x0f) - 8) * d;
      yb[j + kQK4_0 / 2] = float(int(blk.qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_row_q4_1(const void* x, float* y, int64_t k) {
  check_blocks(k, kQK4_1, "dequantize_row_q4_1");
  const auto* in = static_cast<const uint8_t*>(x);
  for (int64_t b = 0; b < k / kQK4_1; ++b) {
    BlockQ4_1 blk;
    std::memcpy(&blk, in + b * sizeof(BlockQ4_1), sizeof(blk));
    const float d = f16_to_f32(blk.d), m = f16_to_f32(blk.m);
    float* yb = y + b * kQK4_1;
    for (int64_t j = 0; j < kQK4_1 / 2; ++j) {
      yb[j] = float(blk.qs[j] & 0x0f) * d + m;
      yb[j + kQK4_1 / 2] = float(blk.qs[j] >> 4) * d + m;
    }
  }
}

void f32_row_to_f16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = f32_to_f16(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void f16_row_to_f32(const void* x, float* y, int64_t n) {
  const auto* in = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    y[i] = f16_to_f32(h);
  }
}

void f32_row_to_bf16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = f32_to_bf16(x[i]);
    std::memcpy(out + 2 * i, &h, 2);
  }
}

void bf16_row_to_f32(const void* x, float* y, int64_t n) {
  const auto* in = static_cast<const uint8_t*>(x);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, in + 2 * i, 2);
    y[i] = bf16_to_f32(h);
  }
}

void ggml_quantize_row(GgmlType t, const float* x, void* y, int64_t n) {
  switch (t) {
    case GgmlType::F32: std::memcpy(y, x, size_t(n) * sizeof(float)); return;
    case GgmlType::F16: f32_row_to_f16(x, y, n); return;
    case GgmlType::BF16: f32_row_to_bf16(x, y, n); return;
    case GgmlType::Q8_0: quantize_row_q8_0_ref(x, y, n); return;
    case GgmlType::Q4_0: quantize_row_q4_0_ref(x, y, n); return;
    case GgmlType::Q4_1: quantize_row_q4_1_ref(x, y, n); return;
  }
  fail_internal("ggml_quantize_row: unsupported ggml type id {}", uint32_t(t));
}

void ggml_dequantize_row(GgmlType t, const void* x, float* y, int64_t n) {
  switch (t) {
    case GgmlType::F32: std::memcpy(y, x, size_t(n) * sizeof(float)); return;
    case GgmlType::F16: f16_row_to_f32(x, y, n); return;
    case GgmlType::BF16: bf16_row_to_f32(x, y, n); return;
    case GgmlType::Q8_0: dequantize_row_q8_0(x, y, n); return;
    case GgmlType::Q4_0: dequantize_row_q4_0(x, y, n); return;
    case GgmlType::Q4_1: dequantize_row_q4_1(x, y, n); return;
  }
  fail_internal("ggml_dequantize_row: unsupported ggml type id {}", uint32_t(t));
}

}  // namespace quantscope
