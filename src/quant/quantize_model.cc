#include "quant/quantize_model.h"

#include <chrono>
#include <map>

#include "core/error.h"
#include "core/progress.h"
#include "kernels/matmul.h"
#include "model/forward.h"
#include "quant/billm.h"
#include "quant/gptq.h"
#include "quant/rtn.h"
#include "quant/slim_llm.h"

namespace quantscope {

nlohmann::json QuantizeReport::to_json() const {
  nlohmann::json j;
  j["seconds"] = seconds;
  auto& arr = j["tensors"] = nlohmann::json::array();
  for (const auto& t : tensors) {
    nlohmann::json e;
    e["name"] = t.name;
    e["layer"] = t.layer;
    e["role"] = role_name(t.role);
    e["scheme"] = t.scheme;
    e["bits_per_weight"] = t.bits_per_weight;
    e["rel_weight_error"] = t.rel_weight_error;
    e["rel_output_error"] = t.rel_output_error < 0 ? nlohmann::json(nullptr) : nlohmann::json(t.rel_output_error);
    e["seconds"] = t.seconds;
    if (!t.note.empty()) e["note"] = t.note;
    arr.push_back(e);
  }
  if (non_finite) {
    j["non_finite"] = {{"tensor", non_finite->tensor}, {"where", non_finite->where}, {"token", non_finite->token},
                       {"feature", non_finite->feature}, {"value", std::to_string(non_finite->value)}};
  } else {
    j["non_finite"] = nullptr;
  }
  return j;
}

std::vector<float> dense_weight_f32(const Model& model, int layer, TensorRole role) {
  const auto* d = dynamic_cast<const DenseLinear*>(model.linear(layer, role));
  if (!d) fail_internal("quantize: {} of layer {} is already quantized", role_name(role), layer);
  const DenseMatrix& m = d->matrix();
  std::vector<float> w(size_t(m.rows * m.cols));
  for (int64_t r = 0; r < m.rows; ++r) load_matrix_row(m, r, w.data() + r * m.cols);
  return w;
}

namespace {

struct StopForward {};

// Accumulates the Hessian (and the value range) of the input of one linear, then stops the forward pass.
class CollectTap : public ActivationTap {
 public:
  CollectTap(int layer, TensorRole role, Hessian* h, ActRangeObserver* obs) : layer_(layer), role_(role), h_(h), obs_(obs) {}
  void on_linear_input(int layer, TensorRole role, const float* x, int64_t m, int64_t k) override {
    if (layer != layer_ || role != role_) return;
    h_->add(x, m);
    obs_->observe(x, m * k);
    throw StopForward{};
  }

 private:
  int layer_;
  TensorRole role_;
  Hessian* h_;
  ActRangeObserver* obs_;
};

void collect(const Model& model, const CalibrationSet& calib, int layer, TensorRole role, Hessian* h,
             ActRangeObserver* obs) {
  Forward fwd(model);
  CollectTap tap(layer, role, h, obs);
  fwd.set_tap(&tap);
  std::vector<float> logits;
  for (const auto& s : calib.samples) {
    KVCache cache(model.config, int64_t(s.size()));
    try {
      fwd.run(s.data(), int64_t(s.size()), 0, cache, nullptr, false);
      if (role == TensorRole::LmHead) {
        logits.resize(s.size() * size_t(model.config.vocab_size));
        fwd.compute_logits(0, int64_t(s.size()), logits.data());
      }
      fail_internal("quantize: the forward pass never reached {} of layer {}", role_name(role), layer);
    } catch (const StopForward&) {
    }
  }
}

const DenseLinear& dense_of(const Model& model, int layer, TensorRole role) {
  const auto* d = dynamic_cast<const DenseLinear*>(model.linear(layer, role));
  if (!d) fail_internal("quantize: {} of layer {} is already quantized", role_name(role), layer);
  return *d;
}

}  // namespace

QuantizeReport quantize_model(Model& model, const std::vector<ResolvedTensor>& plan, const CalibrationSet* calib,
                              const QuantizeOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  std::map<std::pair<int, TensorRole>, const ResolvedTensor*> by_key;
  int64_t todo = 0;
  for (const auto& t : plan) {
    if (t.spec.role == TensorRole::Embedding) continue;
    by_key[{t.spec.layer, t.spec.role}] = &t;
    if (t.scheme.quantized()) {
      ++todo;
      const bool needs = method_needs_calibration(t.scheme.method) ||
                         (t.scheme.act.bits && t.scheme.act.granularity == ActGranularity::Tensor);
      if (needs && !calib)
        fail_input("tensor {}: scheme '{}' needs calibration data (--calib FILE)", t.spec.name, t.scheme.describe());
    }
  }
  QuantizeReport report;
  Progress progress("quantize", todo, "tensor", !options.progress);

  // Stages: linears sharing one input, in forward order.
  using Stage = std::pair<int, std::vector<TensorRole>>;
  std::vector<Stage> stages;
  for (int l = 0; l < model.config.num_layers; ++l) {
    stages.push_back({l, {TensorRole::AttnQ, TensorRole::AttnK, TensorRole::AttnV}});
    stages.push_back({l, {TensorRole::AttnO}});
    stages.push_back({l, {TensorRole::MlpGate, TensorRole::MlpUp}});
    stages.push_back({l, {TensorRole::MlpDown}});
  }
  stages.push_back({-1, {TensorRole::LmHead}});

  for (const auto& [layer, roles] : stages) {
    std::vector<const ResolvedTensor*> work;
    for (TensorRole r : roles) {
      auto it = by_key.find({layer, r});
      if (it != by_key.end() && it->second->scheme.quantized()) work.push_back(it->second);
    }
    if (work.empty()) continue;
    const int64_t k = work[0]->cols();
    std::optional<Hessian> hess;
    ActRangeObserver obs;
    if (calib) {
      hess.emplace(k);
      collect(model, *calib, layer, roles[0], &*hess, &obs);
    }
    for (const ResolvedTensor* t : work) {
      const auto t0 = std::chrono::steady_clock::now();
      const Scheme& s = t->scheme;
      const DenseLinear& dense = dense_of(model, layer, t->spec.role);
      const std::vector<float> w = dense_weight_f32(model, layer, t->spec.role);
      const int64_t rows = t->rows(), cols = t->cols();
      TensorQuantReport rep;
      rep.name = t->spec.name;
      rep.layer = layer;
      rep.role = t->spec.role;
      rep.scheme = s.describe();
      QuantizedWeight q;
      std::optional<SimulatedQuant> sim;
      switch (s.method) {
        case QuantMethod::Rtn: q = rtn_quantize(w.data(), rows, cols, s.weight); break;
        case QuantMethod::Gptq: {
          GptqStats st;
          q = gptq_quantize(w.data(), rows, cols, *hess, s.weight, s.gptq, &st);
          if (st.damp_retries) rep.note += fmt::format("damping raised {}x to {:.3g}; ", st.damp_retries, st.damp_used);
          if (st.dead_columns) rep.note += fmt::format("{} dead input columns; ", st.dead_columns);
          break;
        }
        case QuantMethod::BiLLM:
          if (s.weight.bits != 1) fail_input("tensor {}: billm is a 1-bit method (w_bits {})", t->spec.name, s.weight.bits);
          sim = billm_quantize(w.data(), rows, cols, *hess);
          break;
        case QuantMethod::SlimLlm: sim = slim_llm_quantize(w.data(), rows, cols, *hess, s.weight); break;
        default: fail_input("tensor {}: method {} is not implemented", t->spec.name, method_name(s.method));
      }
      if (sim) {  // simulated storage: the exact dequantized values, the method's own bit count
        q = exact_weight_encoding(sim->dequantized, rows, cols);
        rep.note += sim->note + "; ";
      }
      rep.bits_per_weight = sim ? sim->bits_per_weight : q.bits_per_weight();
      rep.rel_weight_error = relative_weight_error(w.data(), q);
      if (hess) rep.rel_output_error = relative_output_error(w.data(), q, *hess);
      ActQuantSpec act = s.act;
      if (act.bits && act.granularity == ActGranularity::Tensor) {
        float lo = obs.min(), hi = obs.max();
        if (s.a_range == ActRange::Percentile) obs.percentile_range(s.a_percentile, &lo, &hi);
        act.static_params = act_params_static(lo, hi, act.bits, act.rounding);
        act.calibrated = true;
      }
      auto ql = std::make_unique<QuantizedLinear>(t->spec.name, std::move(q), dense.bias(), act);
      if (layer < 0) model.lm_head = std::move(ql);
      else model.layers[size_t(layer)].set_linear(t->spec.role, std::move(ql));
      rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      report.tensors.push_back(std::move(rep));
      progress.advance();
    }
  }
  progress.finish();

  if (calib && options.check_samples > 0) {
    reset_non_finite();
    Forward fwd(model);
    NonFiniteTap tap(model);
    fwd.set_tap(&tap);
    std::vector<float> logits;
    for (int64_t i = 0; i < std::min<int64_t>(options.check_samples, int64_t(calib->samples.size())); ++i) {
      const auto& s = calib->samples[size_t(i)];
      KVCache cache(model.config, int64_t(s.size()));
      logits.resize(s.size() * size_t(model.config.vocab_size));
      fwd.run(s.data(), int64_t(s.size()), 0, cache, logits.data(), true);
      if (first_non_finite()) break;
    }
    report.non_finite = first_non_finite();
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return report;
}

}  // namespace quantscope
