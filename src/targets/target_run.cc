#include "targets/target_run.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "numerics/float_formats.h"
#include "quant/quantized_linear.h"
#include "targets/constraints.h"
#include "targets/target_linear.h"

namespace quantscope {

namespace {

float matrix_value(const DenseMatrix& w, size_t i) {
  switch (w.dtype) {
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(w.data)[i]);
    default: return static_cast<const float*>(w.data)[i];
  }
}

// A DenseLinear whose weights (and bias) are replaced by copies in `dtype` (f16 or bf16: the same
// bytes as a 16-bit checkpoint, round to nearest even, fp16 overflowing to inf). A matrix already in
// `dtype` is kept as it is.
void round_linear(std::unique_ptr<Linear>& l, DType dtype, TensorSet& owners) {
  auto* d = dynamic_cast<DenseLinear*>(l.get());
  if (!d) return;
  const DenseMatrix& w = d->matrix();
  if (w.dtype == dtype) return;
  auto buf = std::make_shared<std::vector<uint16_t>>(size_t(w.rows * w.cols));
  for (size_t i = 0; i < buf->size(); ++i) {
    const float v = matrix_value(w, i);
    (*buf)[i] = dtype == DType::F16 ? f32_to_f16(v) : f32_to_bf16(v);
  }
  std::vector<float> bias = d->bias();
  round_to_dtype(bias.data(), int64_t(bias.size()), dtype, Overflow::ToInf);
  const DenseMatrix rounded{dtype, w.rows, w.cols, buf->data()};
  owners.keep(buf);
  l = std::make_unique<DenseLinear>(rounded, std::move(bias));
}

}  // namespace

DType model_float_dtype(const Model& m) { return m.embedding.dtype; }

TargetRunSetup apply_target(Model& m, const TargetProfile& t) {
  TargetRunSetup s;
  const DType own = model_float_dtype(m);
  const bool has = std::find(t.activation_dtypes.begin(), t.activation_dtypes.end(), own) != t.activation_dtypes.end();
  s.activation_dtype = has ? own : t.activation_dtype;
  s.summary = has ? fmt::format("target {}: activations in {} (the model's dtype)", t.name, dtype_name(s.activation_dtype))
                  : fmt::format("target {}: activations in {} (the model is {}, which {} does not offer)", t.name,
                                dtype_name(s.activation_dtype), dtype_name(own), t.name);
  const KVCacheCheck kv = check_kv_cache(m.kv_quant, t);
  if (!kv.ok) fail_input("{}: {}", m.path, kv.rule);
  if (!t.any_scheme) {
    // Each quantized linear runs through the target's pipeline (target_linear.h), if the target has a
    // kernel for its scheme; otherwise the run is refused, naming the tensor, rule and nearest scheme.
    auto wrap = [&](std::unique_ptr<Linear>& l, const std::string& name) {
      // A GGUF Q8_0/Q4_0 matrix is loaded as packed codes: the same stored form, run by the target too.
      if (const auto* p = dynamic_cast<const PackedLinear*>(l.get())) l = quantized_linear_from_packed(*p, name);
      const auto* q = dynamic_cast<const QuantizedLinear*>(l.get());
      if (!q) return;
      Scheme sc;
      sc.method = QuantMethod::Rtn;  // the stored form is what matters to a kernel, not how it was found
      sc.weight = q->weight().spec;
      sc.act = q->act();
      const SchemeCheck c = check_scheme(sc, q->in_features(), t);
      if (!c.ok)
        fail_input("{}: target {} cannot run {} ({}): {}; nearest it runs: {}", m.path, t.name, q->name(), sc.describe(),
                   c.rule, c.nearest.describe());
      l = std::make_unique<TargetLinear>(std::move(l), t, s.activation_dtype);
    };
    for (size_t li = 0; li < m.layers.size(); ++li) {
      auto& lw = m.layers[li];
      const std::pair<std::unique_ptr<Linear>*, TensorRole> linears[] = {
          {&lw.q, TensorRole::AttnQ},    {&lw.k, TensorRole::AttnK}, {&lw.v, TensorRole::AttnV},
          {&lw.o, TensorRole::AttnO},    {&lw.gate, TensorRole::MlpGate}, {&lw.up, TensorRole::MlpUp},
          {&lw.down, TensorRole::MlpDown}};
      for (const auto& [l, role] : linears) wrap(*l, fmt::format("layers.{}.{}", li, role_name(role)));
    }
    wrap(m.lm_head, "lm_head");
  }
  if (s.activation_dtype == DType::F32) return s;
  // Full-precision weights in the activation dtype, as the device holds them.
  for (auto& lw : m.layers) {
    for (auto* l : {&lw.q, &lw.k, &lw.v, &lw.o, &lw.gate, &lw.up, &lw.down}) round_linear(*l, s.activation_dtype, m.tensors);
    round_to_dtype(lw.attn_norm.data(), int64_t(lw.attn_norm.size()), s.activation_dtype);
    round_to_dtype(lw.mlp_norm.data(), int64_t(lw.mlp_norm.size()), s.activation_dtype);
  }
  round_linear(m.lm_head, s.activation_dtype, m.tensors);
  round_to_dtype(m.final_norm.data(), int64_t(m.final_norm.size()), s.activation_dtype);
  // Embedding rows are rounded as they are looked up (Forward::embed stores them in the dtype).
  m.activations = ActivationStorage(s.activation_dtype, Overflow::ToInf);
  return s;
}

}  // namespace quantscope
