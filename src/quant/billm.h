// BiLLM: Huang, Liu, Qin, Li, Zhang, Liu, Magno, Qi, "BiLLM: Pushing the Limit of Post-Training
// Quantization for LLMs", ICML 2024, arXiv:2402.04291. 1-bit weights with:
//  - salient weights chosen STRUCTURALLY (whole input columns) by the Hessian metric
//    s_j = sum_rows w_rj^2 / [H^-1]_jj^2 (here [H^-1]_jj is read from the Cholesky factor U of H^-1,
//    H^-1 = U^T U, as GPTQ and the BiLLM reference code do), the number of salient columns of a block
//    searched over {0, 1, 2, 4, ..., block/8} for the least squared weight error of the block (the cap
//    keeps the extra residual bits near the paper's ~1.1 bpw: unbounded, the search takes up to half the
//    columns, since more residual bits nearly always lower the weight error);
//  - residual binarization of salient weights, per row: w ~ a1 sign(w) + a2 sign(w - a1 sign(w)),
//    a1 = mean |w|, a2 = mean |residual| (two binary bases);
//  - bell-shaped splitting of the non-salient weights, per row: a break point p on |w| splits them into
//    a concentrated group (|w| <= p) and a sparse group (|w| > p), each binarized with its own
//    a = mean |w| of the group; p is searched EXACTLY over all split points of the sorted magnitudes
//    (prefix sums make each candidate O(1));
//  - block-wise error compensation as in GPTQ: columns are processed in blocks (128), a block is
//    binarized from its current (error-updated) weights, then each column's error is spread over the
//    later columns through U (OBC/GPTQ update).
// Storage is SIMULATED (simulated_storage.h). bits_per_weight counts, as the paper's ~1.08-bit figures
// do: 1 sign bit per weight, +1 residual sign bit per salient weight, +1 bit per column per block for
// the salient-column bitmap. It does NOT count the per-weight concentrated/sparse membership bit nor
// the fp16 scales (4 per row per block); the note says what those would add.
#pragma once

#include "quant/calibration.h"
#include "quant/simulated_storage.h"

namespace quantscope {

struct BillmParams {
  int64_t block_size = 128;  // columns per block (salient selection and error compensation)
  double damp = 0.01;        // fraction of mean diag(H) added to the diagonal
  bool compensate = true;    // GPTQ-style error compensation across columns
};

// Plain sign binarization of n values: alpha = mean |w|; q = alpha * sign(w) (sign(0) = +1).
float binarize_sign(const float* w, int64_t n, float* q);
// Residual binarization (two bases): q = a1 sign(w) + a2 sign(w - a1 sign(w)).
void binarize_residual(const float* w, int64_t n, float* q);
// Bell-shaped split: the break point minimizing the squared error, each group its own alpha.
// Returns the break point p (concentrated group: |w| <= p).
float binarize_split(const float* w, int64_t n, float* q);

// w [rows, cols]; h: sum of x x^T over the calibration inputs (K = cols).
SimulatedQuant billm_quantize(const float* w, int64_t rows, int64_t cols, const Hessian& h,
                              const BillmParams& params = {});

// Cholesky factor U (upper, row-major [n, n]) of (H + damp * mean(diag H) * I)^-1, dead columns
// (H_ii = 0) set to H_ii = 1; the damping is raised 10x until it factors. Shared by BiLLM and SliM-LLM.
std::vector<double> inverse_hessian_upper(const Hessian& h, double damp, std::vector<bool>* dead = nullptr);

}  // namespace quantscope
