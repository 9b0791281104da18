// SmoothQuant: Xiao, Lin, Seznec, Wu, Demouth, Han, "SmoothQuant: Accurate and Efficient Post-Training
// Quantization for Large Language Models", ICML 2023, arXiv:2211.10438.
//
// Activations have a few outlier channels that make per-tensor/per-token activation quantization coarse;
// weights do not. SmoothQuant divides input channel j by s_j and multiplies weight column j by s_j (an
// exact identity in fp), with  s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha),  so the difficulty
// migrates from activations to weights by the strength alpha. The division is folded into the RMSNorm
// before the linear (its weight / s), so inference pays nothing. Weights are then quantized by RTN.
#pragma once

#include <cstdint>
#include <vector>

namespace quantscope {

// act_absmax: [K] max |x_j| over calibration tokens of the shared input of `mats` (each [rows_i, K]).
// A channel whose activation or weight maximum is zero (or non-finite) gets s_j = 1; s_j >= 1e-5.
std::vector<float> smoothquant_scales(const std::vector<float>& act_absmax, const std::vector<const float*>& mats,
                                      const std::vector<int64_t>& rows, int64_t k, double alpha);

}  // namespace quantscope
