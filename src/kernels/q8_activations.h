// Activations quantized the way llama.cpp's CPU backend feeds a Q8_0/Q4_0 matmul (quantize_row_q8_0):
// each row of k columns in blocks of 32, per block
//   amax = max |x|,  d = amax / 127 (fp32),  q[c] = round-half-away-from-zero(x[c] * (1 / d))  (0 when d = 0),
//   qsum = sum of the block's q,  d stored rounded to fp16 (what the matmul multiplies by).
// The row is zero-padded to whole blocks. A row holding a non-finite value is not quantized: its q,
// d and qsum are 0 and finite[i] = 0, so the caller can make that output row NaN (the hardware would
// propagate it; an int8 code cannot hold it). The AVX2 version is bit-identical to the scalar one (the
// same fp32 operations; the rounding done exactly as trunc plus a half-away correction) and serves every
// CPU with AVX2; rows are split across threads, so results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/q8_blocks.h"

namespace quantscope {

struct Q8Activations {
  int64_t m = 0, blocks = 0;
  std::vector<int8_t> q;         // [m, blocks * 32]
  std::vector<float> d;          // [m, blocks], fp16 values
  std::vector<int32_t> qsum;     // [m, blocks]
  std::vector<uint8_t> finite;   // [m]
  Q8Rows rows() const { return {q.data(), d.data(), qsum.data(), m}; }
};

// x [m, k] -> out (its storage reused when large enough).
void quantize_q8_activations(const float* x, int64_t m, int64_t k, Q8Activations& out);
// The scalar definition of the same (tests; CPUs without AVX2).
void quantize_q8_activations_scalar(const float* x, int64_t m, int64_t k, Q8Activations& out);

namespace detail {
// One row: q [blocks * 32], d [blocks] (fp32, not yet rounded to fp16), qsum [blocks]. False (and
// nothing defined written) when the row holds a non-finite value.
bool quantize_q8_row_avx2(const float* x, int64_t k, int8_t* q, float* d, int32_t* qsum);
}  // namespace detail

}  // namespace quantscope
