// Register-blocked fp32 GEMM with the FIXED per-element arithmetic of dot.h:
//   c[i * ldc + j] = dot_f32(a + i * lda, b + j * ldb, k)   for i < m, j < n
// ("NT": both operands row-major with k contiguous, e.g. activations x [m, k] and weights W [n, k]).
// Every element is bit-identical to dot_f32 / dot_f32_scalar on every ISA: the micro-kernels hold
// one output's 16 lane partial sums in one zmm (AVX-512) or two ymm (AVX2), accumulate each lane
// sequentially over k (zero-padded tail), and reduce with the same pairwise tree; they only reuse
// each loaded chunk of a row of a / b for several outputs. Each output is computed whole by one
// thread, so the result does not depend on the thread count either.
#pragma once

#include <cstdint>

namespace quantscope {

// Parallel over tiles of the output (core/parallel.h; small products stay on one thread).
// Reads k floats of each row of a and b (nothing past them); writes only c's m x n elements; c must
// not overlap a or b. a == b (a symmetric product X X^T) is fine, and bit-symmetric.
void gemm_nt_f32(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k, float* c,
                 int64_t ldc);

// The same on the calling thread only (for callers that parallelize over their own blocks).
void gemm_nt_f32_serial(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k,
                        float* c, int64_t ldc);

// Rows of b per cache panel for reduction length k (a multiple of 16, >= 16): a panel of
// gemm_panel_rows(k) x k floats stays in L2 while the rows of a stream past it. matmul() widens
// f16/bf16 weights one panel at a time.
int64_t gemm_panel_rows(int64_t k);

namespace detail {
// Serial kernels for one ISA (called only when the CPU has it); same contract as gemm_nt_f32_serial.
void gemm_nt_f32_avx2(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k,
                      float* c, int64_t ldc);
void gemm_nt_f32_avx512(const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n, int64_t k,
                        float* c, int64_t ldc);
}  // namespace detail

}  // namespace quantscope
