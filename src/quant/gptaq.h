// GPTAQ: Li, Yin, Kim, Guo, Panda, "GPTAQ: Efficient Finetuning-Free Quantization for Asymmetric
// Calibration", ICML 2025 (arXiv:2504.02692; first released as "GPTQv2").
//
// GPTQ fits each quantized layer to the inputs X~ produced by the already-quantized layers below it
// ("symmetric" calibration: min ||(W - Wq) X~||). GPTAQ fits the quantized layer's output to the
// FULL-PRECISION model's output instead: min ||Wq X~ - W X|| with X the fp input of the same tokens,
// so errors accumulated below are corrected rather than ignored. The closed form adds one term to
// GPTQ's column update, through P = alpha * triu(dXX~^T U^T, 1) U with dXX~^T = sum (x - x~) x~^T and
// U the upper Cholesky factor of H^-1 (H = sum x~ x~^T); alpha (0.25 in the paper's code) damps it.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/calibration.h"
#include "quant/gptq.h"

namespace quantscope {

// sum over calibration tokens of (x_fp - x_q) x_q^T, [K, K] double: row i pairs input channel i's
// full-precision-minus-quantized-path difference with every channel j of the quantized-path input.
class AsymmetricCrossTerm {
 public:
  explicit AsymmetricCrossTerm(int64_t k) : k_(k), d_(size_t(k * k), 0.0) {}
  // x_fp, x_q: [m, k] row-major, the same m tokens through the fp and the quantized model.
  void add(const float* x_fp, const float* x_q, int64_t m);
  int64_t k() const { return k_; }
  const double* data() const { return d_.data(); }

 private:
  int64_t k_;
  std::vector<double> d_;
};

// w [rows, cols]; h: Hessian of the quantized-path inputs; cross: the asymmetric term of the same tokens.
// alpha 0 is exactly GPTQ.
QuantizedWeight gptaq_quantize(const float* w, int64_t rows, int64_t cols, const Hessian& h,
                               const AsymmetricCrossTerm& cross, const WeightQuantSpec& spec, const GptqParams& params,
                               double alpha, GptqStats* stats = nullptr);

}  // namespace quantscope
