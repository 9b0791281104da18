#include "interop/ascend_v1.h"

#include "core/error.h"
#include "quant/quantized_linear.h"

namespace quantscope {

namespace {
constexpr std::pair<AscendQuantType, std::string_view> kNames[] = {
    {AscendQuantType::Float, "FLOAT"}, {AscendQuantType::W8A16, "W8A16"}, {AscendQuantType::W4A16, "W4A16"},
    {AscendQuantType::W8A8, "W8A8"},   {AscendQuantType::W8A8Dynamic, "W8A8_DYNAMIC"},
};
}  // namespace

std::string_view ascend_quant_type_name(AscendQuantType t) {
  for (const auto& [k, v] : kNames)
    if (k == t) return v;
  return "?";
}

bool ascend_quant_type_from_name(std::string_view s, AscendQuantType* out) {
  for (const auto& [k, v] : kNames)
    if (v == s) {
      *out = k;
      return true;
    }
  return false;
}

std::string ascend_module_name(const std::string& weight_name) {
  const std::string suffix = ".weight";
  if (weight_name.size() > suffix.size() && weight_name.ends_with(suffix))
    return weight_name.substr(0, weight_name.size() - suffix.size());
  return weight_name;
}

AscendLinearPlan plan_ascend_linear(const Linear& lin, const std::string& name) {
  AscendLinearPlan p;
  if (dynamic_cast<const DenseLinear*>(&lin)) return p;
  const auto* q = dynamic_cast<const QuantizedLinear*>(&lin);
  if (!q)
    fail_input("{}: {} is not integer codes with scales; AscendV1 holds int8/int4 codes with scales only",
               name, lin.describe());
  const QuantizedWeight& w = q->weight();
  const ActQuantSpec& a = q->act();
  const std::string scheme = q->describe();
  if (!q->smooth().empty())
    fail_input("{} ({}): carries a per-input-channel smoothing divisor; AscendV1 has no such tensor for a "
               "linear (fold the smoothing into the preceding norm)", name, scheme);
  if (w.spec.bits != 4 && w.spec.bits != 8)
    fail_input("{} ({}): {}-bit weights; AscendV1 holds 8-bit and 4-bit weights only", name, scheme, w.spec.bits);
  if (w.spec.granularity == Granularity::Group) {
    if (w.cols % w.group_size != 0)
      fail_input("{} ({}): group size {} does not divide K = {}; AscendV1 weight_scale is [n, k/g] (no ragged "
                 "groups)", name, scheme, w.group_size, w.cols);
    p.group_size = w.group_size == w.cols ? 0 : w.group_size;
  }
  if (a.bits == 0) {
    p.type = w.spec.bits == 8 ? AscendQuantType::W8A16 : AscendQuantType::W4A16;
    return p;
  }
  if (a.bits != 8)
    fail_input("{} ({}): {}-bit activations; the AscendV1 types exported here take 8-bit activations "
               "(W4A4 is not exported)", name, scheme, a.bits);
  if (w.spec.bits == 4) {
    if (p.group_size)
      fail_input("{} ({}): per-group W4A8; AscendV1 W4A8_DYNAMIC holds per-channel weight scales only "
                 "(vLLM-Ascend rejects per-group W4A8)", name, scheme);
    fail_input("{} ({}): W4A8_DYNAMIC (int4 packed two per byte, scale_bias) is not exported by quantscope yet",
               name, scheme);
  }
  if (p.group_size)
    fail_input("{} ({}): per-group weights with 8-bit activations; AscendV1 W8A8 and W8A8_DYNAMIC hold one "
               "weight scale per output channel", name, scheme);
  if (!w.spec.symmetric)
    fail_input("{} ({}): asymmetric weights; AscendV1 W8A8 and W8A8_DYNAMIC require symmetric weights "
               "(weight_offset is zero)", name, scheme);
  if (a.granularity == ActGranularity::Tensor) {
    if (!a.calibrated)
      fail_input("{} ({}): static activations without a calibrated range; W8A8 needs input_scale and "
                 "input_offset (quantize with calibration data)", name, scheme);
    p.type = AscendQuantType::W8A8;
  } else {
    p.type = AscendQuantType::W8A8Dynamic;
  }
  return p;
}

}  // namespace quantscope
