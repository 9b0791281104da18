// AWQ: Lin, Tang, Tang, Yang, Chen, Wang, Xiao, Dang, Gan, Han, "AWQ: Activation-aware Weight
// Quantization for LLM Compression and Acceleration", MLSys 2024, arXiv:2306.00978.
//
// The observation: a few input channels carry much larger activations than the rest, and the
// weights that multiply them matter most for the output. Instead of keeping those weights in
// higher precision (mixed precision is awkward for kernels), AWQ scales input channel j of the
// weight up by s_j > 0 and the activation down by the same factor, which leaves the layer's
// function unchanged in exact arithmetic:
//     y = W x = (W diag(s)) (diag(s)^-1 x).
// The quantizer then sees W diag(s): the salient columns are larger relative to their group's
// scale, so their rounding error, divided back by s_j on the way to the output, shrinks. The
// division of the activation is folded into the previous operator where one exists (quantize_model
// folds it into the RMSNorm before q/k/v, gate/up and lm_head; o_proj and down_proj keep it as a
// per-channel input divisor on the quantized linear, which the paper would fold into v_proj/up_proj).
// The paper searches s = s_X^alpha, with s_X_j the mean |x_j| over calibration tokens and alpha on
// a grid in [0, 1), keeping the alpha with the least output error; then (section 3.3 / the
// reference implementation) it searches per-group clipping ratios of the scaled weights that
// minimise each group's output error.
//
// Here both searches are pure functions of the weights and calibration statistics: the output
// error of a weight error d (one row, [K]) is d^T H d with H = sum over tokens of x x^T (the
// `Hessian` of calibration.h), which is exactly sum over tokens of (d . x)^2, so no activations
// are stored. Differences from the reference code (llm-awq / AutoAWQ), all deliberate:
//  - The scale-search loss is the summed squared error of the linears' own outputs (for q, k, v:
//    the three projections), not of the downstream block output (attention / MLP including
//    nonlinearities), which would need a forward pass; that keeps this layer free of the model.
//  - Channels whose mean |x| is 0 (dead inputs: their weights never reach the output) get the
//    floor described at awq_scales_for_alpha instead of an absolute clamp at 1e-4.
//  - The clip search uses the exact d_g^T H_gg d_g on all calibration tokens instead of a token
//    subsample.
//
// Conventions (shapes row-major, fp32 weights, double statistics):
//   w          [rows, K]  out features x in features, as in HF checkpoints
//   s          [K]        > 0; the stored matrix is Q(W diag(s)); the input fed to it is x / s;
//                         the effective fp weight is dequant(Q(W diag(s))) diag(s)^-1 ("W_hat")
//   H          [K, K]     sum over calibration tokens of x x^T (units: activation^2 x tokens);
//                         only its lower triangle is read (Hessian::add makes it exactly symmetric)
//   losses     sum over the given rows of (w - w_hat)^T H (w - w_hat): the summed squared output
//              error over all calibration tokens and output features (units: output^2)
// Every loss is computed per row in a fixed order by one thread and summed in row order, so results
// are bit-identical for any thread count. Extra memory is O(K) per thread plus O(rows) doubles,
// except tensor granularity in awq_search_scales, which holds one scaled copy of a matrix
// (rows x K floats + codes) because its single scale depends on every row.
#pragma once

#include <cstdint>
#include <vector>

#include "quant/calibration.h"
#include "quant/quantizer.h"

namespace quantscope {

struct AwqParams {
  int grid = 20;                 // alpha in {0, 1/grid, ..., (grid-1)/grid}; >= 1 (grid 1: alpha 0 only, i.e. RTN)
  bool clip = true;              // run the clipping search after scaling (awq_quantize)
  int clip_grid = 20;            // shrink ratios 1 - i/clip_grid ...
  double clip_max_shrink = 0.5;  // ... for i = 0 .. int(clip_max_shrink * clip_grid) - 1 (i = 0 always);
                                 // in (0, 1). Defaults: ratios 1.00, 0.95, ..., 0.55 as in the paper's code
};

struct AwqScaleResult {
  std::vector<float> scales;   // [K] per input channel, > 0; W is used as W * diag(s), the input as x / s
  double alpha = 0;            // the best grid point
  double loss_identity = 0;    // summed output error with s = 1 (plain RTN), units output^2
  double loss_best = 0;        // with the chosen scales (<= loss_identity)
  std::vector<double> losses;  // [grid] the loss at alpha = i / grid (the search curve)
};

// The scales for one alpha, as awq_search_scales uses them: m_j = mean_abs_x_j, with dead channels
// (m_j == 0) floored at the smallest positive m (so a dead channel is treated like the least active
// live one: its weights are neither blown up nor divided by ~0; with no live channel all s are 1);
// s_j = m_j^alpha / sqrt(max_k m_k^alpha * min_k m_k^alpha) (the paper code's normalisation, which
// centres log s around 0 so W diag(s) stays in the weights' numeric range), computed in double, then
// rounded to fp32 and kept inside the positive normal fp32 range. alpha = 0 gives s = 1 exactly.
// Throws InputError for a negative or non-finite mean.
std::vector<float> awq_scales_for_alpha(const std::vector<double>& mean_abs_x, double alpha);

// mats: the linears that share one input (e.g. q, k, v), mats[i] is w [rows[i], K] row-major fp32.
// h: Hessian of their shared input ([K, K]). mean_abs_x: [K] mean |x_j| over the calibration tokens.
// For alpha = i / grid, i = 0 .. grid-1: s = awq_scales_for_alpha(mean_abs_x, alpha); each matrix is
// quantized as quantize_weight(W diag(s), spec without its clip_search) (plain RTN: the scale search
// is done on round-to-nearest, the clip search comes after), dequantized, divided by s -> W_hat;
// loss = sum over mats and rows of (w - w_hat)^T H (w - w_hat). The smallest loss wins; ties keep the
// smaller alpha, so alpha = 0 (s = 1, RTN) wins unless something is strictly better.
AwqScaleResult awq_search_scales(const std::vector<const float*>& mats, const std::vector<int64_t>& rows, int64_t K,
                                 const Hessian& h, const std::vector<double>& mean_abs_x, const WeightQuantSpec& spec,
                                 const AwqParams& p);

// Quantizes w_scaled = W diag(s) [rows, K] (the caller already multiplied the columns by s).
// p.clip == false, or 1-bit symmetric (sign binarisation has no range to clip): exactly
// quantize_weight(w_scaled, rows, K, spec) (including spec.clip_search, GPTQ's weight-MSE search, if set).
// Otherwise the AWQ clipping search replaces spec.clip_search: for each (row, group) -- for tensor
// granularity the one group is the whole matrix, for channel the whole row -- over the quantizer's
// range [lo, hi] = [min(w, 0), max(w, 0)] of the group, try params_from_range(r lo, r hi, spec) for the
// ratios r of AwqParams and keep the one minimising the group's partial output error
// d_g^T Hs_gg d_g, Hs = D^-1 H D^-1 the Hessian of the scaled input x / s (evaluated as e^T H_gg e with
// e = d / s, so Hs is never formed). Ties keep the larger ratio. Groups are chosen independently (as in
// the paper's code): the cross-group terms d_g^T H_gg' d_g' are ignored, so for group granularity the
// full output error is not guaranteed to fall; the sum of the per-group errors is. For tensor and
// channel granularity the group's error is the full error. The returned spec is `spec` unchanged.
QuantizedWeight awq_quantize(const float* w_scaled, int64_t rows, int64_t K, const Hessian& h,
                             const std::vector<float>& scales, const WeightQuantSpec& spec, const AwqParams& p);

}  // namespace quantscope
