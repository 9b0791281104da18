// Layer-by-layer quantization (see quantize_model.h). Calibration samples are carried through the model
// as hidden states: embed once, then for each layer collect what every stage of that layer needs by
// running the layer on a copy of the states up to the stage's input (the tap stops the pass there),
// quantize the stage, and finally run the finished layer once to advance the states. GPTAQ also carries
// the full-precision model's states through an untouched copy of each layer.
#include "quant/quantize_model.h"

#include <chrono>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/progress.h"
#include "kernels/ops.h"
#include "model/forward.h"
#include "quant/awq.h"
#include "quant/billm.h"
#include "quant/gptaq.h"
#include "quant/gptq.h"
#include "quant/rtn.h"
#include "quant/slim_llm.h"
#include "quant/smoothquant.h"

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
    auto measured = [](double v) { return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v); };
    e["rel_output_error"] = measured(t.rel_output_error);
    e["hessian_trace"] = measured(t.hessian_trace);
    e["hessian_weighted_error"] = measured(t.hessian_weighted_error);
    e["act_outlier_ratio"] = measured(t.act_outlier_ratio);
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

// Copies the input of linear (layer, role) and stops the pass; optionally observes the layer's keys
// and values on the way (KV-cache channel scales).
class CaptureTap : public ActivationTap {
 public:
  CaptureTap(int layer, TensorRole role, std::vector<float>* out, KVRangeObserver* kv = nullptr)
      : layer_(layer), role_(role), out_(out), kv_(kv) {}
  void on_linear_input(int layer, TensorRole role, const float* x, int64_t m, int64_t k) override {
    if (layer != layer_ || role != role_) return;
    out_->assign(x, x + m * k);
    throw StopForward{};
  }
  void on_kv(int layer, const float* k, const float* v, int64_t m, int64_t) override {
    if (kv_ && layer == layer_) kv_->observe(layer, k, v, m);
  }

 private:
  int layer_;
  TensorRole role_;
  std::vector<float>* out_;
  KVRangeObserver* kv_;
};

// Hidden states [len, hidden] of every calibration sample, for one path through the model.
using States = std::vector<std::vector<float>>;

// The input of (layer, role) for one sample whose layer input is `state` (not modified). For the
// lm_head (layer -1) the state is the output of the last layer and the input is its final norm.
void stage_input(Forward& fwd, const Model& model, const LayerWeights& lw, const std::vector<float>& final_norm,
                 int layer, TensorRole role, const std::vector<float>& state, KVCache& cache, std::vector<float>* out,
                 KVRangeObserver* kv = nullptr) {
  const int64_t hdim = model.config.hidden_size, n = int64_t(state.size()) / hdim;
  if (layer < 0) {
    out->resize(state.size());
    for (int64_t t = 0; t < n; ++t)
      rms_norm(state.data() + t * hdim, final_norm.data(), hdim, model.config.norm_eps, out->data() + t * hdim);
    return;
  }
  std::vector<float> x = state;
  CaptureTap tap(layer, role, out, kv);
  fwd.set_tap(&tap);
  try {
    fwd.run_layer(lw, layer, x.data(), n, 0, cache);
    fwd.set_tap(nullptr);
    fail_internal("quantize: layer {} never reached {}", layer, role_name(role));
  } catch (const StopForward&) {
  }
  fwd.set_tap(nullptr);
}

// Statistics of a stage's input over the calibration set, as the stage's methods need them.
struct StageStats {
  std::optional<Hessian> hessian;
  std::optional<AsymmetricCrossTerm> cross;  // GPTAQ
  ActRangeObserver range;                    // static activation ranges
  std::vector<double> abs_sum;               // [K] sum |x_j| (AWQ uses the mean)
  std::vector<float> abs_max;                // [K] max |x_j| (SmoothQuant, the outlier proxy)
  int64_t tokens = 0;

  void add(const std::vector<float>& x, int64_t k) {
    const int64_t m = int64_t(x.size()) / k;
    if (hessian) hessian->add(x.data(), m);
    range.observe(x.data(), m * k);
    if (abs_sum.empty()) abs_sum.assign(size_t(k), 0.0), abs_max.assign(size_t(k), 0.0f);
    for (int64_t t = 0; t < m; ++t)
      for (int64_t j = 0; j < k; ++j) {
        const float a = std::fabs(x[size_t(t * k + j)]);
        abs_sum[size_t(j)] += a;
        abs_max[size_t(j)] = std::fmax(abs_max[size_t(j)], a);
      }
    tokens += m;
  }
};

const DenseLinear& dense_of(const Model& model, int layer, TensorRole role) {
  const auto* d = dynamic_cast<const DenseLinear*>(model.linear(layer, role));
  if (!d) fail_internal("quantize: {} of layer {} is already quantized", role_name(role), layer);
  return *d;
}

// The norm whose output feeds a stage (smoothing scales fold into it), or null (o_proj, down_proj).
std::vector<float>* feeding_norm(Model& model, int layer, TensorRole first_role) {
  if (layer < 0) return &model.final_norm;
  if (first_role == TensorRole::AttnQ) return &model.layers[size_t(layer)].attn_norm;
  if (first_role == TensorRole::MlpGate) return &model.layers[size_t(layer)].mlp_norm;
  return nullptr;
}

// A copy of layer `l` that keeps the full-precision weights (views of the checkpoint) and norms.
LayerWeights full_precision_copy(const Model& model, int l) {
  LayerWeights c;
  const LayerWeights& lw = model.layers[size_t(l)];
  c.attn_norm = lw.attn_norm;
  c.mlp_norm = lw.mlp_norm;
  for (TensorRole r : {TensorRole::AttnQ, TensorRole::AttnK, TensorRole::AttnV, TensorRole::AttnO, TensorRole::MlpGate,
                       TensorRole::MlpUp, TensorRole::MlpDown}) {
    const DenseLinear& d = dense_of(model, l, r);
    c.set_linear(r, std::make_unique<DenseLinear>(d.matrix(), d.bias()));
  }
  return c;
}

void scale_columns(std::vector<float>& w, int64_t rows, int64_t k, const std::vector<float>& s, bool divide) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) {
      float& v = w[size_t(r * k + j)];
      v = divide ? v / s[size_t(j)] : v * s[size_t(j)];
    }
}

}  // namespace

QuantizeReport quantize_model(Model& model, const std::vector<ResolvedTensor>& plan, const CalibrationSet* calib,
                              const QuantizeOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  const ModelConfig& cfg = model.config;
  std::map<std::pair<int, TensorRole>, const ResolvedTensor*> by_key;
  int64_t todo = 0;
  bool any_gptaq = false;
  for (const auto& t : plan) {
    if (t.spec.role == TensorRole::Embedding) continue;
    by_key[{t.spec.layer, t.spec.role}] = &t;
    if (t.scheme.quantized()) {
      ++todo;
      any_gptaq = any_gptaq || t.scheme.method == QuantMethod::Gptaq;
      const bool needs = method_needs_calibration(t.scheme.method) ||
                         (t.scheme.act.bits && t.scheme.act.granularity == ActGranularity::Tensor);
      if (needs && !calib)
        fail_input("tensor {}: scheme '{}' needs calibration data (--calib FILE)", t.spec.name, t.scheme.describe());
    }
  }
  if (model.kv_quant.needs_calibration() && !calib)
    fail_input("KV-cache scheme '{}' needs calibration data (--calib FILE) for its channel scales",
               model.kv_quant.describe());
  if (model.kv_quant.needs_calibration()) {
    // Zero scales leave a layer's cache unquantized until its layer is calibrated below.
    model.kv_quant.k_scale.assign(size_t(cfg.num_layers * cfg.kv_dim()), 0.0f);
    model.kv_quant.v_scale = model.kv_quant.k_scale;
  }
  QuantizeReport report;
  Progress progress("quantize", todo, "tensor", !options.progress);

  // Stages: linears sharing one input, in forward order.
  using Stage = std::vector<TensorRole>;
  const std::vector<Stage> layer_stages = {{TensorRole::AttnQ, TensorRole::AttnK, TensorRole::AttnV},
                                           {TensorRole::AttnO},
                                           {TensorRole::MlpGate, TensorRole::MlpUp},
                                           {TensorRole::MlpDown}};

  Forward fwd(model);
  States xq, xf;  // quantized-path and (GPTAQ) full-precision-path states
  int64_t max_len = 1;
  if (calib) {
    for (const auto& s : calib->samples) {
      xq.emplace_back(s.size() * size_t(cfg.hidden_size));
      fwd.embed(s.data(), int64_t(s.size()), xq.back().data());
      max_len = std::max<int64_t>(max_len, int64_t(s.size()));
    }
    if (any_gptaq) xf = xq;
  }
  KVCache cache(cfg, max_len);
  std::optional<KVRangeObserver> kv_obs;
  if (model.kv_quant.needs_calibration()) kv_obs.emplace(cfg.num_layers, cfg.kv_dim());
  const std::vector<float> fp_final_norm = model.final_norm;

  const LayerWeights no_layer;  // stands in for the lm_head stage, whose input needs no layer
  auto layer_weights = [&](int layer) -> const LayerWeights& { return layer >= 0 ? model.layers[size_t(layer)] : no_layer; };
  auto run_stage = [&](int layer, const Stage& roles, const LayerWeights* fp_layer) {
    std::vector<const ResolvedTensor*> work;
    for (TensorRole r : roles) {
      auto it = by_key.find({layer, r});
      if (it != by_key.end() && it->second->scheme.quantized()) work.push_back(it->second);
    }
    if (work.empty()) return;
    const int64_t k = work[0]->cols();
    std::vector<float>* norm = feeding_norm(model, layer, roles[0]);
    // AWQ/SmoothQuant scales fold into the shared norm, so every linear fed by it must take them.
    const Scheme& lead = work[0]->scheme;
    const bool smoothing = method_smooths_input(lead.method);
    for (const ResolvedTensor* t : work) {
      const bool s2 = method_smooths_input(t->scheme.method);
      if (s2 != smoothing || (smoothing && (t->scheme.method != lead.method || t->scheme.sq_alpha != lead.sq_alpha)) ||
          (smoothing && norm && work.size() != roles.size()))
        fail_input("tensor {}: {} scales are shared by every linear reading the same input ({}), so they must all "
                   "use the same smoothing method and parameters",
                   t->spec.name, method_name(lead.method), work[0]->spec.name);
    }
    // Statistics of the stage's input.
    StageStats stats;
    const bool gptaq_stage = lead.method == QuantMethod::Gptaq;
    if (calib) {
      stats.hessian.emplace(k);
      if (gptaq_stage) stats.cross.emplace(k);
      const LayerWeights& lw = layer_weights(layer);
      std::vector<float> xin, xin_fp;
      for (size_t s = 0; s < xq.size(); ++s) {
        stage_input(fwd, model, lw, model.final_norm, layer, roles[0], xq[s], cache, &xin);
        stats.add(xin, k);
        if (gptaq_stage) {
          stage_input(fwd, model, layer >= 0 ? *fp_layer : lw, fp_final_norm, layer, roles[0], xf[s], cache, &xin_fp);
          stats.cross->add(xin_fp.data(), xin.data(), int64_t(xin.size()) / k);
        }
      }
    }
    // Smoothing scales of the stage (one vector for all its linears).
    std::vector<float> smooth;
    std::vector<std::vector<float>> weights;
    for (const ResolvedTensor* t : work) weights.push_back(dense_weight_f32(model, layer, t->spec.role));
    std::string smooth_note;
    if (smoothing) {
      std::vector<const float*> mats;
      std::vector<int64_t> rows;
      for (size_t i = 0; i < work.size(); ++i) mats.push_back(weights[i].data()), rows.push_back(work[i]->rows());
      if (lead.method == QuantMethod::SmoothQuant) {
        smooth = smoothquant_scales(stats.abs_max, mats, rows, k, lead.sq_alpha);
        smooth_note = fmt::format("smoothquant alpha {}", lead.sq_alpha);
      } else {
        std::vector<double> mean_abs(static_cast<size_t>(k));
        for (int64_t j = 0; j < k; ++j) mean_abs[size_t(j)] = stats.abs_sum[size_t(j)] / double(std::max<int64_t>(stats.tokens, 1));
        AwqParams ap;
        ap.grid = lead.awq_grid;
        ap.clip = lead.awq_clip;
        const AwqScaleResult r = awq_search_scales(mats, rows, k, *stats.hessian, mean_abs, lead.weight, ap);
        smooth = r.scales;
        smooth_note = fmt::format("awq alpha {:.2f}, search loss {:.4g} -> {:.4g}", r.alpha, r.loss_identity, r.loss_best);
      }
      if (norm)
        for (int64_t j = 0; j < k; ++j) (*norm)[size_t(j)] /= smooth[size_t(j)];
    }
    // Static activation ranges of smoothed inputs are taken again, on the smoothed values.
    bool needs_static = false;
    for (const ResolvedTensor* t : work) needs_static = needs_static || (t->scheme.act.bits && t->scheme.act.granularity == ActGranularity::Tensor);
    ActRangeObserver smoothed_range;
    if (smoothing && needs_static) {
      std::vector<float> xin;
      for (size_t s = 0; s < xq.size(); ++s) {
        stage_input(fwd, model, layer_weights(layer), model.final_norm, layer, roles[0], xq[s], cache, &xin);
        if (!norm) scale_columns(xin, int64_t(xin.size()) / k, k, smooth, /*divide=*/true);
        smoothed_range.observe(xin.data(), int64_t(xin.size()));
      }
    }
    const ActRangeObserver& range = smoothing ? smoothed_range : stats.range;

    for (size_t i = 0; i < work.size(); ++i) {
      const ResolvedTensor* t = work[i];
      const auto t0 = std::chrono::steady_clock::now();
      const Scheme& s = t->scheme;
      const DenseLinear& dense = dense_of(model, layer, t->spec.role);
      const std::vector<float>& w = weights[i];
      const int64_t rows = t->rows(), cols = t->cols();
      TensorQuantReport rep;
      rep.name = t->spec.name;
      rep.layer = layer;
      rep.role = t->spec.role;
      rep.scheme = s.describe();
      if (!smooth_note.empty()) rep.note += smooth_note + (norm ? " (folded into the norm); " : " (applied to the input); ");
      std::vector<float> ws;
      if (smoothing) {
        ws = w;
        scale_columns(ws, rows, cols, smooth, /*divide=*/false);
      }
      QuantizedWeight q;
      std::optional<SimulatedQuant> sim;
      GptqStats st;
      // A method's refusal (GPTQ's Hessian singular even after raising the damping) names the tensor.
      try {
        switch (s.method) {
          case QuantMethod::Rtn: q = rtn_quantize(w.data(), rows, cols, s.weight); break;
          case QuantMethod::Gptq: q = gptq_quantize(w.data(), rows, cols, *stats.hessian, s.weight, s.gptq, &st); break;
          case QuantMethod::Gptaq:
            q = gptaq_quantize(w.data(), rows, cols, *stats.hessian, *stats.cross, s.weight, s.gptq, s.gptaq_alpha, &st);
            break;
          case QuantMethod::SmoothQuant: q = rtn_quantize(ws.data(), rows, cols, s.weight); break;
          case QuantMethod::Awq: {
            AwqParams ap;
            ap.grid = s.awq_grid;
            // AWQ does not clip q/k: their errors are amplified by the attention scores (AutoAWQ skips them too).
            ap.clip = s.awq_clip && t->spec.role != TensorRole::AttnQ && t->spec.role != TensorRole::AttnK;
            q = awq_quantize(ws.data(), rows, cols, *stats.hessian, smooth, s.weight, ap);
            break;
          }
          case QuantMethod::BiLLM: sim = billm_quantize(w.data(), rows, cols, *stats.hessian); break;
          case QuantMethod::SlimLlm: sim = slim_llm_quantize(w.data(), rows, cols, *stats.hessian, s.weight); break;
          case QuantMethod::None: fail_internal("quantize: method none in the work list");
        }
      } catch (const InputError& e) {
        fail_input("tensor {}: {}", t->spec.name, e.what());
      }
      if (st.damp_retries) rep.note += fmt::format("damping raised {}x to {:.3g}; ", st.damp_retries, st.damp_used);
      if (st.dead_columns) rep.note += fmt::format("{} dead input columns; ", st.dead_columns);
      if (sim) {  // simulated storage: the exact dequantized values, the method's own bit count
        q = exact_weight_encoding(sim->dequantized, rows, cols);
        rep.note += sim->note + "; ";
      }
      rep.bits_per_weight = sim ? sim->bits_per_weight : q.bits_per_weight();
      // Errors in the original input space: the effective weight is dequant(q) / s.
      std::vector<float> w_eff = q.dequantize();
      if (smoothing) scale_columns(w_eff, rows, cols, smooth, /*divide=*/true);
      rep.rel_weight_error = relative_weight_error(w.data(), w_eff.data(), rows * cols);
      if (stats.hessian) {
        rep.rel_output_error = relative_output_error(w.data(), w_eff.data(), rows, cols, *stats.hessian);
        rep.hessian_trace = hessian_trace(*stats.hessian);
        rep.hessian_weighted_error = hessian_weighted_error(w.data(), w_eff.data(), rows, cols, *stats.hessian);
        rep.act_outlier_ratio = activation_outlier_ratio(stats.abs_max, *stats.hessian);
      }
      ActQuantSpec act = s.act;
      if (act.bits && act.granularity == ActGranularity::Tensor) {
        float lo = range.min(), hi = range.max();
        if (s.a_range == ActRange::Percentile) range.percentile_range(s.a_percentile, &lo, &hi);
        act.static_params = act_params_static(lo, hi, act.bits, act.rounding);
        act.calibrated = true;
      }
      auto ql = std::make_unique<QuantizedLinear>(t->spec.name, std::move(q), dense.bias(), act);
      if (smoothing && !norm) ql->set_smooth(smooth);
      if (layer < 0) model.lm_head = std::move(ql);
      else model.layers[size_t(layer)].set_linear(t->spec.role, std::move(ql));
      rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      report.tensors.push_back(std::move(rep));
      progress.advance();
    }
  };

  for (int l = 0; l < cfg.num_layers; ++l) {
    std::optional<LayerWeights> fp_layer;
    if (any_gptaq && calib) fp_layer.emplace(full_precision_copy(model, l));
    for (size_t si = 0; si < layer_stages.size(); ++si) {
      if (si == 1 && kv_obs) {
        // Keys and values of this layer come from its (now final) q/k/v: calibrate their channel scales
        // before the later stages see the quantized cache.
        std::vector<float> scratch;
        for (const auto& state : xq)
          stage_input(fwd, model, model.layers[size_t(l)], model.final_norm, l, TensorRole::AttnO, state, cache,
                      &scratch, &*kv_obs);
        kv_obs->set_scales(&model.kv_quant);
      }
      run_stage(l, layer_stages[si], fp_layer ? &*fp_layer : nullptr);
    }
    // Advance the states through the finished layer (and the fp copy).
    for (size_t s = 0; s < xq.size(); ++s) {
      const int64_t n = int64_t(xq[s].size()) / cfg.hidden_size;
      fwd.run_layer(model.layers[size_t(l)], l, xq[s].data(), n, 0, cache);
      if (fp_layer) fwd.run_layer(*fp_layer, l, xf[s].data(), n, 0, cache);
    }
  }
  run_stage(-1, {TensorRole::LmHead}, nullptr);
  progress.finish();
  xq.clear();
  xf.clear();

  if (calib && options.check_samples > 0) {
    reset_non_finite();
    NonFiniteTap tap(model);
    fwd.set_tap(&tap);
    std::vector<float> logits;
    for (int64_t i = 0; i < std::min<int64_t>(options.check_samples, int64_t(calib->samples.size())); ++i) {
      const auto& s = calib->samples[size_t(i)];
      KVCache c(cfg, int64_t(s.size()));
      logits.resize(s.size() * size_t(cfg.vocab_size));
      fwd.run(s.data(), int64_t(s.size()), 0, c, logits.data(), true);
      if (first_non_finite()) break;
    }
    fwd.set_tap(nullptr);
    report.non_finite = first_non_finite();
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return report;
}

}  // namespace quantscope
