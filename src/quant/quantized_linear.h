// A Linear whose weights are integer codes with group scales (quantizer.h), optionally with fake-quantized
// activations (W8A8 / W4A4 emulation: the input is quantized and dequantized, then the matmul runs in fp32).
//
// forward() runs matmul_packed over the codes packed to `bits` (kernels/packed_matrix.h): decode dequantizes
// in registers, prefill one L2 panel of rows at a time, and either way every output is dot_f32 of the input
// and the dequantized row, so a QuantizedLinear gives bit-identical outputs to a DenseLinear over the
// dequantized matrix (tested).
// Outputs are scanned for NaN/Inf; the first one seen since reset_non_finite() is recorded with the
// tensor's name (W4A4 can overflow; the study wants to know where, not to crash).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/forward.h"
#include "model/linear.h"
#include "quant/quantizer.h"

namespace quantscope {

struct ActQuantSpec {
  int bits = 0;  // 0: activations stay fp32; else 4 or 8
  ActGranularity granularity = ActGranularity::Token;
  Rounding rounding = Rounding::HalfToEven;
  // Per-tensor static range (calibrated), used when granularity == Tensor.
  GroupParams static_params;
  bool calibrated = false;

  std::string describe() const;  // "" or "a8 token", "a4 tensor"
};

class QuantizedLinear final : public Linear {
 public:
  QuantizedLinear(std::string name, QuantizedWeight w, std::vector<float> bias, ActQuantSpec act = {});
  int64_t in_features() const override { return w_.cols; }
  int64_t out_features() const override { return w_.rows; }
  void forward(const float* x, int64_t m, float* y) const override;
  // Packed codes + scales + zeros (what a deployment kernel reads) + bias.
  uint64_t weight_bytes() const override;
  std::string describe() const override;

  const std::string& name() const { return name_; }
  const QuantizedWeight& weight() const { return w_; }
  const std::vector<float>& bias() const { return bias_; }
  const ActQuantSpec& act() const { return act_; }
  void set_act(const ActQuantSpec& a) { act_ = a; }
  // Input smoothing (AWQ on o_proj/down_proj, whose scales cannot be folded into a norm): the input is
  // divided by s [K] per channel before activation quantization, and the weight holds Q(W * diag(s)).
  // Empty: none.
  const std::vector<float>& smooth() const { return smooth_; }
  void set_smooth(std::vector<float> s);
  // For a wrapper that keeps the codes in a layout of its own (TargetLinear's VNNI tiles): frees the
  // packed codes so the model is not held twice. Scales, zeros, spec and sizes stay; forward() is an
  // InternalError afterwards, and nothing may read weight().packed.
  void release_packed_codes();

 private:
  std::string name_;
  QuantizedWeight w_;
  std::vector<float> bias_;
  ActQuantSpec act_;
  std::vector<float> smooth_;
};

// The same codes, scales and bias as a QuantizedLinear named `name` (a GGUF Q8_0/Q4_0 matrix loaded as a
// PackedLinear), so the target layer can run it with a target's numerics. The spec is read off the
// layout: symmetric when the zero point is the constant 2^(b-1), fp16 scales when every scale is one.
std::unique_ptr<QuantizedLinear> quantized_linear_from_packed(const PackedLinear& p, std::string name);

// Where a non-finite value first appeared.
struct NonFiniteEvent {
  std::string tensor;  // canonical name of the linear whose output (or input, from the tap) had it
  std::string where;   // "output" or "input"
  int64_t token = 0, feature = 0;
  float value = 0.0f;
};
// The first event since the last reset (process-wide, thread-safe; the first reporter wins).
std::optional<NonFiniteEvent> first_non_finite();
void reset_non_finite();
void note_non_finite(const NonFiniteEvent& e);

// A tap that records the first linear whose INPUT holds a NaN/Inf (catches values produced by
// attention/norms too, which QuantizedLinear's output check cannot see).
class NonFiniteTap : public ActivationTap {
 public:
  explicit NonFiniteTap(const Model& m) : model_(m) {}
  void on_linear_input(int layer, TensorRole role, const float* x, int64_t m, int64_t k) override;

 private:
  const Model& model_;
};

}  // namespace quantscope
