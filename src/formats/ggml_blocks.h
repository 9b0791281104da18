// ggml tensor storage types and their block formats: the byte layouts GGUF files store weights in.
// The quantizers are scalar references that reproduce llama.cpp's quantize_row_*_ref bit for bit
// (same scale rule, same rounding, same fp16 rounding of the scale), so a file written here is the
// file llama.cpp would write from the same fp32 weights.
//
// A "row" is ne[0] consecutive elements (ggml's fastest-varying dimension); quantized rows hold
// ne[0] / block_size blocks. Block structs describe layout only: the functions below read and write
// through byte pointers with memcpy, so mapped file data needs no alignment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace quantscope {

// ggml_type ids as stored in GGUF tensor infos (ggml.h). Only the types quantscope reads and writes.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  BF16 = 30,
};

struct GgmlTypeTraits {
  GgmlType type;
  std::string_view name;  // ggml's lower-case name: "f32", "q4_0", ...
  int64_t block_size;     // elements per block (1 for the float types)
  size_t type_size;       // bytes per block
  bool quantized;
};

// The supported types, in id order.
inline constexpr GgmlTypeTraits kGgmlTypes[] = {
    {GgmlType::F32, "f32", 1, 4, false},      {GgmlType::F16, "f16", 1, 2, false},
    {GgmlType::Q4_0, "q4_0", 32, 18, true},   {GgmlType::Q4_1, "q4_1", 32, 20, true},
    {GgmlType::Q8_0, "q8_0", 32, 34, true},   {GgmlType::BF16, "bf16", 1, 2, false},
};

// Traits of a supported type id, or nullptr when the id is unknown or not supported here.
const GgmlTypeTraits* find_ggml_type(uint32_t id);
// Traits of a supported type (always found).
const GgmlTypeTraits& ggml_traits(GgmlType t);
// ggml's name for any id ggml has defined ("q4_K", "iq2_xxs", ...), supported or not; "unknown" otherwise.
// For messages about files that use types quantscope cannot read.
std::string_view ggml_type_name(uint32_t id);
// "f32, f16, q4_0, q4_1, q8_0, bf16" — for messages.
std::string_view ggml_supported_types();
// Bytes of a row of ncols elements; ncols must be a multiple of the block size.
inline uint64_t ggml_row_size(GgmlType t, int64_t ncols) {
  const GgmlTypeTraits& tr = ggml_traits(t);
  return uint64_t(ncols / tr.block_size) * tr.type_size;
}

// ---- Block layouts (ggml-common.h). fp16 fields hold IEEE half bit patterns. ----
inline constexpr int64_t kQK8_0 = 32;
inline constexpr int64_t kQK4_0 = 32;
inline constexpr int64_t kQK4_1 = 32;

struct BlockQ8_0 {
  uint16_t d;         // scale (fp16)
  int8_t qs[kQK8_0];  // value = qs[j] * d
};
struct BlockQ4_0 {
  uint16_t d;              // scale (fp16)
  uint8_t qs[kQK4_0 / 2];  // byte j: low nibble = element j, high nibble = element j + 16; value = (q - 8) * d
};
struct BlockQ4_1 {
  uint16_t d;              // scale (fp16)
  uint16_t m;              // minimum (fp16)
  uint8_t qs[kQK4_1 / 2];  // same nibble order as Q4_0; value = q * d + m
};
static_assert(sizeof(BlockQ8_0) == 2 + kQK8_0, "block_q8_0 is 34 bytes");
static_assert(sizeof(BlockQ4_0) == 2 + kQK4_0 / 2, "block_q4_0 is 18 bytes");
static_assert(sizeof(BlockQ4_1) == 4 + kQK4_1 / 2, "block_q4_1 is 20 bytes");

// ---- Reference quantizers: k elements (a multiple of 32) from x into k/32 blocks at y. ----
// Non-finite inputs give unspecified (but defined, in-range) codes; callers check finiteness first.
//
// Q8_0: d = amax/127, q = round-half-away-from-zero(x / d) (x * (1/d), as llama.cpp), d stored as fp16.
void quantize_row_q8_0_ref(const float* x, void* y, int64_t k);
// Q4_0: d = max/-8 where max is the element of largest magnitude (sign kept, first one on ties),
// q = min(15, trunc(x * (1/d) + 8.5)).
void quantize_row_q4_0_ref(const float* x, void* y, int64_t k);
// Q4_1: d = (max-min)/15, m = min, q = min(15, trunc((x - min) * (1/d) + 0.5)).
void quantize_row_q4_1_ref(const float* x, void* y, int64_t k);

// ---- Dequantizers: k elements from k/32 blocks at x into y. ----
void dequantize_row_q8_0(const void* x, float* y, int64_t k);
void dequantize_row_q4_0(const void* x, float* y, int64_t k);
void dequantize_row_q4_1(const void* x, float* y, int64_t k);

// ---- Float rows (round to nearest even, as core/dtype.h). Pointers need no alignment. ----
void f32_row_to_f16(const float* x, void* y, int64_t n);
void f16_row_to_f32(const void* x, float* y, int64_t n);
void f32_row_to_bf16(const float* x, void* y, int64_t n);
void bf16_row_to_f32(const void* x, float* y, int64_t n);

// ---- Type-generic: n elements (a multiple of the block size) of type t. ----
void ggml_quantize_row(GgmlType t, const float* x, void* y, int64_t n);
void ggml_dequantize_row(GgmlType t, const void* x, float* y, int64_t n);

}  // namespace quantscope
