// SliM-LLM: Huang, Ni, Qin, Liu, Liu, Magno, Qi, "SliM-LLM: Salience-Driven Mixed-Precision Quantization
// for Large Language Models", arXiv:2405.14917 (2024). Groups of input columns (group size g along K)
// get different bit widths by salience, with the average fixed at the target b:
//  - group salience (the paper's Hessian-based salience, with the diagonal form):
//    S_G = sum_{j in G} H_jj * sum_rows w_rj^2;
//  - Salience-Determined Bit Allocation: groups sorted by salience; the top m get b+1 bits, the bottom m
//    get b-1, the rest b (same count up and down, so the average code width is exactly b); m in
//    0..n/2 is searched for the least Hessian-weighted error sum_j H_jj ||w_j - q_j||^2, with each
//    group's error measured by round-to-nearest at each width (a double-pointer search in the paper);
//  - each group is then quantized at its width with per-row scales (the scheme's symmetric /
//    clipping / scale dtype), by GPTQ (the paper's SliM-LLM is GPTQ-based: columns in order, error
//    spread through the inverse-Hessian Cholesky factor, a group's params taken from its current
//    weights when its first column is reached) or by RTN when gptq = false.
// Not implemented: the paper's Salience-Weighted Quantizer Calibration (SQC: a per-group search over
// a scale that favours the locally salient weights); the scheme's clip_search plays a similar role.
// A ragged last group (K not a multiple of g) always stays at b, so the exact-average rule holds.
// g: the scheme's group size (granularity group), else 128 (capped at K).
// Storage is SIMULATED (simulated_storage.h): bits_per_weight = code bits + per row per group a scale
// in the scheme's dtype (+ an 8-bit zero point if asymmetric) + 2 bits per column group for its width.
#pragma once

#include "quant/calibration.h"
#include "quant/simulated_storage.h"

namespace quantscope {

struct SlimLlmParams {
  bool gptq = true;
  double damp = 0.01;
};

struct SlimLlmAllocation {
  int64_t group_size = 0;
  std::vector<int> bits;  // per column group
};

// The allocation alone (for tests and reports). spec.bits must be 2..7.
SlimLlmAllocation slim_llm_allocate(const float* w, int64_t rows, int64_t cols, const Hessian& h,
                                    const WeightQuantSpec& spec);

SimulatedQuant slim_llm_quantize(const float* w, int64_t rows, int64_t cols, const Hessian& h,
                                 const WeightQuantSpec& spec, const SlimLlmParams& params = {},
                                 SlimLlmAllocation* alloc_out = nullptr);

}  // namespace quantscope
