// The b-bit code decoder of the AVX-512 kernels, shared by gemv_avx512.cc (decode) and
// gemm_lanes_avx512.cc (prefill tiles). Include it ONLY from files compiled with AVX-512 flags: every
// name here has internal linkage (an anonymous namespace), so each such file keeps its own copy and
// no AVX-512 code can stand in for a baseline one at link time.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "kernels/gemv.h"

namespace quantscope::detail {
namespace {

// The 2B bytes of one full chunk in the low bytes (the decoder ignores the others). A plain 16-byte
// load where the buffer has 16 bytes left (`end`: one past the codes), else exactly 2B bytes: masked
// byte loads are several times slower than plain ones on AMD Zen, so they are kept for the end.
template <int B>
__m128i load_chunk(const uint8_t* p, const uint8_t* end) {
  if constexpr (B == 4) {
    return _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  } else if constexpr (B == 2) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm_cvtsi32_si128(v);
  } else {
    if (end - p >= 16) return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm_maskz_loadu_epi8(__mmask16((1u << (2 * B)) - 1u), p);
  }
}

struct CodeDecoder {
  __m512i shuffle, shift, mask;
  __m512i dword_shift;   // (l*b) % 32: for b = 1, 2 lane l's code lies in the chunk's first dword
  __m512i nibble_shift;  // b = 4: 4 * (l / 2), see indices<4>
  __m512i lane_code;     // vpermps indices: natural lanes -> kPacked4LaneCode order
  __m512i code_lane;     // and back
  explicit CodeDecoder(int b) {
    alignas(64) uint8_t shuf[64];
    alignas(64) uint32_t sh[16];
    for (int l = 0; l < 16; ++l) {
      const int bit = l * b;
      shuf[4 * l] = uint8_t(bit / 8);
      shuf[4 * l + 1] = uint8_t((bit / 8 + 1) & 15);  // for b = 8 the byte is masked off anyway
      shuf[4 * l + 2] = 0x80;                         // high bit set: vpshufb writes zero
      shuf[4 * l + 3] = 0x80;
      sh[l] = uint32_t(bit % 8);
    }
    shuffle = _mm512_load_si512(shuf);
    shift = _mm512_load_si512(sh);
    for (int l = 0; l < 16; ++l) sh[l] = uint32_t(l * b % 32);
    dword_shift = _mm512_load_si512(sh);
    for (int l = 0; l < 16; ++l) sh[l] = uint32_t(4 * (l / 2));
    nibble_shift = _mm512_load_si512(sh);
    for (int l = 0; l < 16; ++l) sh[l] = uint32_t(kPacked4LaneCode[l]);
    lane_code = _mm512_load_si512(sh);
    for (int l = 0; l < 16; ++l) sh[kPacked4LaneCode[l]] = uint32_t(l);
    code_lane = _mm512_load_si512(sh);
    mask = _mm512_set1_epi32((1 << b) - 1);
  }
  // The full chunk at p (2B bytes, all inside the buffer) with code l in the low B bits of lane l and
  // junk above (B = 4: code kPacked4LaneCode[l], see packed_rows): vpermps reads only the low 4 bits,
  // so B <= 4 needs no mask. For B = 1, 2, 4 the chunk is one dword or qword broadcast straight from
  // memory (a load, not a shuffle) and shifted per lane; B = 3 goes through vpshufb.
  template <int B>
  __m512i indices(const uint8_t* p, const uint8_t* end) const {
    if constexpr (B == 4) {  // lanes in kPacked4LaneCode order, see packed_rows
      return _mm512_srlv_epi32(_mm512_set1_epi64(load_u64(p)), nibble_shift);
    } else if constexpr (B == 2) {
      return _mm512_srlv_epi32(_mm512_set1_epi32(load_u32(p)), dword_shift);
    } else if constexpr (B == 1) {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return _mm512_srlv_epi32(_mm512_set1_epi32(v), dword_shift);
    } else {
      return _mm512_srlv_epi32(_mm512_shuffle_epi8(_mm512_broadcast_i32x4(load_chunk<B>(p, end)), shuffle), shift);
    }
  }
  static int64_t load_u64(const uint8_t* p) {
    int64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static int32_t load_u32(const uint8_t* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  template <int B>
  __m512 decode(__m128i bytes) const {
    __m512i v;
    if constexpr (B == 8) {
      v = _mm512_cvtepu8_epi32(bytes);
    } else {
      v = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(bytes), shuffle);
      v = _mm512_and_si512(_mm512_srlv_epi32(v, shift), mask);
    }
    return _mm512_cvtepi32_ps(v);
  }
};

// The ceil(r * B / 8) bytes of a tail chunk of r < 16 codes; the rest zero.
template <int B>
__m128i load_chunk_tail(const uint8_t* p, int64_t r) {
  const int64_t nbytes = (r * B + 7) / 8;
  return _mm_maskz_loadu_epi8(__mmask16((1u << nbytes) - 1u), p);
}

}  // namespace
}  // namespace quantscope::detail
