#include "study/cell_runner.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <random>

#include "analysis/sensitivity.h"
#include "core/build_info.h"
#include "core/file_io.h"
#include "core/json_document.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "eval/kld.h"
#include "eval/mc_scoring.h"
#include "eval/open_model.h"
#include "eval/perplexity.h"
#include "model/activation_storage.h"
#include "quant/quantize_job.h"
#include "quant/quantized_linear.h"
#include "quant/quantized_model.h"

namespace quantscope {
namespace fs = std::filesystem;

namespace {

std::string host_name() {
  char buf[256] = {0};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// A unique sibling name for writing `final` before renaming it into place.
std::string temp_sibling(const std::string& final) {
  std::random_device rd;
  return fmt::format("{}.tmp-{}-{:08x}", final, getpid(), rd());
}

// A measured result that is not a number (W4A4 overflowing, say) is a finding, not a blank: the
// cell says which metrics and where the first non-finite value appeared, so no results table shows
// a NaN without its reason.
std::string non_finite_note(const std::vector<Metric>& metrics, const std::optional<ActivationOverflow>& overflow) {
  std::string names;
  for (const Metric& m : metrics)
    if (!std::isfinite(m.value)) names += (names.empty() ? "" : ", ") + m.name;
  if (names.empty()) return "";
  std::string note = "non-finite " + names;
  if (overflow)
    note += fmt::format("; first activation overflow to inf at layer {} {} (token {}, feature {}, value {:g})",
                        overflow->layer, overflow->where, overflow->token, overflow->feature, overflow->value);
  if (const auto e = first_non_finite())
    note += fmt::format("; first non-finite value: {} of {} at token {}, feature {} ({})", e->where, e->tensor, e->token,
                        e->feature, e->value);
  return note;
}

PplOptions ppl_options(const StudyTask& t, const ModelConfig& cfg) {
  PplOptions po;
  ppl_protocol_from_name(t.protocol, &po.protocol);  // validated by the spec parser
  po.ctx = std::min<int64_t>(t.ctx, cfg.max_seq_len);
  po.max_windows = t.windows;
  po.progress = false;  // the study prints one line per cell
  return po;
}

// Average stored bits per weight of the decoder linears of a quantized directory, from its quantize
// report: for the methods whose storage is simulated (BiLLM's salient bitmap, SliM-LLM's per-group
// widths) this is their own accounting, which the recipe's nominal figure cannot know. 0 when the
// report lacks it.
double quantized_decoder_bits(const std::string& dir, const Model& model) {
  const fs::path f = fs::path(dir) / kQuantDescriptionFile;
  const nlohmann::json d = parse_json_document(read_text_file(f.string()), f.string());
  if (!d.contains("report") || !d["report"].contains("tensors")) return 0;
  std::map<std::string, double> numel;
  for (const auto& t : model.registry)
    if (t.layer >= 0 && !t.is_bias && t.shape.size() == 2) numel[t.name] = double(t.shape[0]) * double(t.shape[1]);
  double bits = 0, weights = 0;
  for (const auto& t : d["report"]["tensors"]) {
    const auto it = numel.find(t.value("name", ""));
    if (it == numel.end() || !t.contains("bits_per_weight")) continue;
    bits += t["bits_per_weight"].get<double>() * it->second;
    weights += it->second;
  }
  return weights > 0 ? bits / weights : 0;
}

// The cell's size and roofline speed on its target beside what it measured (study_plan.h CellCost).
void add_cost_metrics(const StudyCell& cell, double measured_bits, std::vector<Metric>* out) {
  const CellCost& c = cell.cost;
  const double bits = measured_bits > 0 ? measured_bits : c.bits_per_weight;
  out->push_back({"bits", bits, 0, 0,
                  measured_bits > 0 ? "decoder linears, bits per weight stored (the quantizer's accounting)"
                                    : "decoder linears, bits per weight stored (the recipe's)"});
  if (c.decode_tok_s <= 0) return;  // the target has no roofline figures
  const std::string on = fmt::format("roofline bound on {}", cell.target_name);
  out->push_back({"weight_bytes", c.weight_bytes, 0, 0, fmt::format("{}: every stored tensor", on)});
  out->push_back({"proj_decode_tok_s", c.decode_tok_s, 0, 0,
                  fmt::format("{}: batch-1 decode at context {}", on, c.context)});
  out->push_back({"proj_prefill_tok_s", c.prefill_tok_s, 0, 0, fmt::format("{}: prefill of {} tokens", on, c.context)});
}

// A measured cell: done, with its non-finite note, and when it ran (wall seconds from t0).
void mark_done(CellRecord& r, std::string note, const std::string& started,
               std::chrono::steady_clock::time_point t0) {
  r.status = "done";
  r.reason = std::move(note);
  r.provenance.started = started;
  r.provenance.ended = utc_now();
  r.provenance.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.provenance.peak_rss_bytes = peak_rss_bytes();
}

}  // namespace

CellRunner::CellRunner(const StudyPlan& plan, CellRunContext ctx) : plan_(plan), ctx_(std::move(ctx)) {
  fs::create_directories(fs::path(ctx_.cache_dir) / "quantized");
  fs::create_directories(fs::path(ctx_.cache_dir) / "references");
}

std::optional<CalibrationSet> CellRunner::calibration(const StudyCell& cell, const OpenedModel& m) const {
  if (!cell.calibrated) return std::nullopt;
  const StudySpec& spec = plan_.spec;
  CalibrationOptions co;
  co.files = spec.calibration.files;
  co.nsamples = spec.calibration.samples;
  co.seqlen = spec.calibration.tokens;
  co.seed = cell.seed;
  return build_calibration(m.require_tokenizer(), co, m.model->config.bos_id);
}

std::string CellRunner::quantized_model_dir(const StudyCell& cell) {
  const fs::path dir = fs::path(ctx_.cache_dir) / "quantized" / cell.quant_key;
  if (fs::exists(dir / kQuantDescriptionFile)) return dir.string();
  const StudySpec& spec = plan_.spec;
  const std::string& model_path = spec.models[cell.model];
  OpenedModel m = open_model_for_run(model_path, spec.tokenizer, "");
  const std::optional<CalibrationSet> calib = calibration(cell, m);
  const Recipe recipe = parse_recipe(cell.recipe_json.dump(), cell.recipe_label);
  QuantizeOptions qo;
  qo.progress = false;
  // Written aside and renamed into place: a killed run never leaves a directory that looks complete,
  // and two ranks quantizing the same recipe at once both succeed (the second rename finds it there).
  const std::string tmp = temp_sibling(dir.string());
  quantize_and_save(*m.model, recipe, cell.recipe_label, calib ? &*calib : nullptr, tmp,
                    m.tokenizer ? m.tokenizer->source() : std::string(), qo);
  std::error_code ec;
  fs::rename(tmp, dir, ec);
  if (ec) {
    fs::remove_all(tmp);
    if (!fs::exists(dir / kQuantDescriptionFile))
      fail_internal("{}: cannot move the quantized model into the cache ({})", dir.string(), ec.message());
  }
  return dir.string();
}

std::string CellRunner::kld_reference(const StudyCell& cell) {
  const fs::path ref = fs::path(ctx_.cache_dir) / "references" / (cell.reference_key + ".ref");
  if (fs::exists(ref)) return ref.string();
  const StudySpec& spec = plan_.spec;
  const StudyTask& task = spec.tasks[cell.task];
  // The reference is the unquantized model on the host fast path: KLD measures what quantization and
  // the target's numerics together lose against the original model.
  OpenedModel m = open_model_for_run(spec.models[cell.model], spec.tokenizer, "");
  const std::vector<int>& stream = token_stream(cell, m.require_tokenizer());
  const PplOptions po = ppl_options(task, m.model->config);
  RefOptions ro;
  ro.protocol = po.protocol;
  ro.ctx = po.ctx;
  ro.max_windows = po.max_windows;
  ro.model_path = spec.models[cell.model];
  ro.text_path = task.path;
  ro.progress = false;
  Forward fwd(*m.model);
  write_reference(fwd, stream, m.model->config.bos_id, ro, ref.string());  // AtomicFile: temp + rename
  return ref.string();
}

const std::vector<int>& CellRunner::token_stream(const StudyCell& cell, const Tokenizer& tok) {
  const std::string key = plan_.models[cell.model].weights_hash + "|" + plan_.spec.tasks[cell.task].path;
  auto it = streams_.find(key);
  if (it == streams_.end())
    it = streams_.emplace(key, tok.encode(read_text_file(plan_.spec.tasks[cell.task].path), false)).first;
  return it->second;
}

CellRecord CellRunner::base_record(const StudyCell& cell) const {
  CellRecord r;
  r.key = cell.key;
  r.run_id = ctx_.run_id;
  r.study = plan_.spec.name;
  r.model = cell.model_label;
  r.model_hash = plan_.models[cell.model].weights_hash;
  r.recipe = cell.recipe_label;
  r.recipe_json = cell.recipe_json.dump();
  r.quant_key = cell.quant_key;
  r.seed = cell.seed;
  r.target = cell.target_name;
  r.task = cell.task_name;
  r.provenance.command_line = ctx_.command_line;
  r.provenance.commit = build_commit();
  r.provenance.version = build_version();
  r.provenance.host = host_name();
  r.provenance.rank = ctx_.rank;
  return r;
}

CellRecord CellRunner::refused_record(const StudyCell& cell, const std::string& reason) const {
  CellRecord r = base_record(cell);
  r.status = "refused";
  r.reason = reason;
  r.provenance.started = r.provenance.ended = utc_now();
  return r;
}

// One metric per decoder linear (unit_kld_metric_name, results_store.h), the KLD to the
// reference with only that tensor quantized by the recipe's scheme, on the cell's target.
std::vector<Metric> CellRunner::sensitivity_metrics(const StudyCell& cell) {
  const StudySpec& spec = plan_.spec;
  const StudyTask& task = spec.tasks[cell.task];
  const std::string& model_path = spec.models[cell.model];
  const RefReader ref(kld_reference(cell));
  std::optional<CalibrationSet> calib;
  {
    const OpenedModel m = open_model_for_run(model_path, spec.tokenizer, "");
    calib = calibration(cell, m);
  }
  SensitivityOptions so;
  so.scheme = cell.recipe_json.at("default");
  so.unit = SensitivityUnit::Tensor;
  so.target = cell.target_name == "host" ? "" : cell.target_name;
  so.calib = calib ? &*calib : nullptr;
  so.kld.max_windows = task.windows;
  so.kld.progress = false;
  so.progress = false;
  const SensitivityResult res = measure_sensitivity([&] { return load_any_model(model_path); }, ref, so);
  std::vector<Metric> out;
  const std::string protocol = task.protocol_description();
  for (const UnitSensitivity& u : res.units)
    out.push_back({unit_kld_metric_name(u.layer, u.role), u.kld.mean, u.kld.se, ref.header().scored,
                   fmt::format("{}; only {} quantized", protocol, u.unit)});
  return out;
}

CellRecord CellRunner::run(const StudyCell& cell) {
  if (!cell.refused.empty()) return refused_record(cell, cell.refused);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string started = utc_now();
  const StudySpec& spec = plan_.spec;
  const StudyTask& task = spec.tasks[cell.task];
  if (task.kind == "sensitivity") {
    CellRecord r = base_record(cell);
    try {
      r.metrics = sensitivity_metrics(cell);
    } catch (const InputError& e) {  // the target refuses the scheme on some tensor: a result too
      return refused_record(cell, fmt::format("refused by {}: {}", cell.target_name, e.what()));
    }
    mark_done(r, non_finite_note(r.metrics, std::nullopt), started, t0);
    return r;
  }
  const std::string path = cell.quant_key.empty() ? spec.models[cell.model] : quantized_model_dir(cell);
  const std::string reference = task.kind == "kld" ? kld_reference(cell) : std::string();
  OpenedModel m;
  try {
    m = open_model_for_run(path, spec.tokenizer, cell.target_name);
  } catch (const InputError& e) {
    // The target cannot run this model (a rule the plan's recipe check does not cover): a result too.
    return refused_record(cell, fmt::format("refused by {}: {}", cell.target_name, e.what()));
  }
  CellRecord r = base_record(cell);
  const std::string protocol = task.protocol_description();
  Forward fwd(*m.model);
  reset_non_finite();
  if (task.kind == "ppl") {
    const PplResult p = perplexity(fwd, token_stream(cell, m.require_tokenizer()), m.model->config.bos_id,
                                   ppl_options(task, m.model->config));
    r.metrics.push_back({"ppl", p.ppl, p.ppl_se, p.scored, protocol});
    r.metrics.push_back({"mean_nll", p.mean_nll, p.se_mean_nll, p.scored, protocol});
  } else if (task.kind == "kld") {
    const RefReader ref(reference);
    KldOptions ko;
    ko.progress = false;
    const KldResult k = kld_against_reference(fwd, ref, ko);
    r.metrics.push_back({"kld", k.kld.mean, k.kld.se, k.scored, protocol});
    r.metrics.push_back({"top1", k.top1.mean, k.top1.se, k.scored, protocol});
    r.metrics.push_back({"ppl_ratio", k.ppl_ratio, k.ppl_ratio_se, k.scored, protocol});
  } else {
    TaskReadOptions ro;
    ro.limit = task.limit;
    const McTask mc = read_mc_task(task.kind, task.path, ro);
    McScoringOptions so;
    so.progress = false;
    const McResult res = score_mc_task(fwd, m.require_tokenizer(), m.model->config.bos_id, mc, so);
    r.metrics.push_back({"acc", res.acc.mean, res.acc.se, res.n, protocol});
    if (res.report_acc_norm) r.metrics.push_back({"acc_norm", res.acc_norm.mean, res.acc_norm.se, res.n, protocol});
  }
  add_cost_metrics(cell, cell.quant_key.empty() ? 0 : quantized_decoder_bits(path, *m.model), &r.metrics);
  mark_done(r, non_finite_note(r.metrics, m.model->activations.first_overflow()), started, t0);
  return r;
}

}  // namespace quantscope
