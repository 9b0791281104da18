// GPTQ: Frantar, Ashkboos, Hoefler, Alistarh, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers", ICLR 2023, arXiv:2210.17323 (building on Optimal Brain Quantization,
// Frantar & Alistarh 2022). Columns are quantized one at a time; the rounding error of each is spread
// over the columns not yet quantized through the inverse Hessian of the layer's calibration inputs,
// which minimises ||(W - Wq) X^T||^2 greedily.
#pragma once

#include <functional>
#include <vector>

#include "quant/calibration.h"
#include "quant/quantizer.h"
#include "quant/recipe.h"

namespace quantscope {

struct GptqStats {
  double damp_used = 0;  // absolute value added to the diagonal
  int damp_retries = 0;  // times the damping was multiplied by 10 because H + damp I was not positive definite
  int64_t dead_columns = 0;  // inputs that were always zero (their weights are quantized as zero)
};

// w [rows, cols]; h: the Hessian of the inputs (sum x x^T over calibration tokens, K = cols).
QuantizedWeight gptq_quantize(const float* w, int64_t rows, int64_t cols, const Hessian& h, const WeightQuantSpec& spec,
                              const GptqParams& params, GptqStats* stats = nullptr);

// GPTQ with an extra update term (GPTAQ, gptaq.h): given perm (perm[i] = the original column quantized
// i-th) and U (the upper Cholesky factor of the damped H^-1 in that order, n x n fp32), returns P (n x n,
// same order, strictly upper triangular). Quantizing column i then updates every later column j of a
// row by  w[j] -= err_i * U[i][j] - w_i * P[i][j]  with w_i the column's value before rounding.
using GptqCorrection = std::function<std::vector<float>(const std::vector<int64_t>& perm, const std::vector<float>& u)>;
QuantizedWeight gptq_quantize_with_correction(const float* w, int64_t rows, int64_t cols, const Hessian& h,
                                              const WeightQuantSpec& spec, const GptqParams& params,
                                              const GptqCorrection& correction, GptqStats* stats = nullptr);

}  // namespace quantscope
