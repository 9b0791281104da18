// Quantizes a loaded model in place by a resolved recipe, layer by layer: the inputs of layer i's linears
// are collected (through ActivationTap) from calibration samples running through layers < i that are
// already quantized, as GPTQ's sequential mode does. Inside a layer the order is q/k/v (one shared
// input), o, gate/up, down, each seeing the quantized linears before it. Memory is bounded by one
// Hessian [K, K] (double) plus one weight matrix at a time; the forward pass of each collection is cut
// off right after the input it needs (the tap throws), so the cost is about (layers / 2) * 4 forward
// passes over the calibration set.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "quant/calibration.h"
#include "quant/quantized_linear.h"
#include "quant/recipe.h"

namespace quantscope {

struct TensorQuantReport {
  std::string name;
  int layer = -1;
  TensorRole role = TensorRole::AttnQ;
  std::string scheme;
  double bits_per_weight = 0;
  double rel_weight_error = 0;
  double rel_output_error = -1;  // -1 without calibration data
  // Sensitivity proxies from the same calibration inputs (calibration.h says what each is and its
  // units); -1 without calibration data.
  double hessian_trace = -1;           // tr(2/N sum x x^T)
  double hessian_weighted_error = -1;  // tr(H)/K * ||W - Wq||_F^2
  double act_outlier_ratio = -1;       // max_c max|x_c| / mean_c rms(x_c)
  double seconds = 0;
  std::string note;  // e.g. GPTQ damping retries
};

struct QuantizeReport {
  std::vector<TensorQuantReport> tensors;
  std::optional<NonFiniteEvent> non_finite;  // from a forward pass of the quantized model over calibration
  double seconds = 0;
  nlohmann::json to_json() const;
};

struct QuantizeOptions {
  bool progress = true;
  // Calibration samples run through the finished model to look for NaN/Inf (0: none).
  int64_t check_samples = 8;
};

// `calib` may be null only when no tensor's method or activation scheme needs it; the output error is
// then not measured (-1).
QuantizeReport quantize_model(Model& model, const std::vector<ResolvedTensor>& plan, const CalibrationSet* calib,
                              const QuantizeOptions& options = {});

// Reads weight matrix (layer, role) of the model as fp32 [rows, cols] (it must still be dense).
std::vector<float> dense_weight_f32(const Model& model, int layer, TensorRole role);

}  // namespace quantscope
