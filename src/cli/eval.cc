// quantscope eval MODEL --tasks ppl:FILE,kld:REF,blimp[:DIR],hellaswag:F,arc:F,piqa:F,winogrande:F,lambada:F,mc:F
//   [--limit N] [--json OUT] [--markdown OUT] [--skip-invalid] [--protocol P --ctx N] [--paired JSON]
// Prints one block per task and writes every number with its protocol, counts and error as JSON.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/build_info.h"
#include "cli/command.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"
#include "core/parallel.h"
#include "eval/bootstrap.h"
#include "eval/kld.h"
#include "eval/mc_scoring.h"
#include "eval/perplexity.h"
#include "eval/stats.h"

namespace quantscope::cli {
namespace {

struct EvalCliOptions {
  ModelOptions model;
  std::string tasks, json, markdown, paired, protocol = "full-window";
  std::string quant;  // a quantized directory of MODEL (quantscope quantize --out DIR): evaluated instead
  int64_t limit = 0, ctx = 0;
  bool skip_invalid = false, no_prefix_reuse = false, quiet = false;
};

struct TaskSpec {
  std::string kind, path;
};

std::vector<TaskSpec> parse_tasks(const std::string& s) {
  std::vector<TaskSpec> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    const std::string item = s.substr(i, j - i);
    i = j + 1;
    if (item.empty()) continue;
    const size_t colon = item.find(':');
    TaskSpec t{item.substr(0, colon), colon == std::string::npos ? std::string() : item.substr(colon + 1)};
    if (t.kind == "blimp" && t.path.empty()) t.path = "data/blimp";
    if (t.kind != "ppl" && t.kind != "kld" && !is_mc_task_kind(t.kind))
      fail_input("--tasks: unknown task '{}' (expected ppl:FILE, kld:REF, blimp[:DIR], hellaswag:F, arc:F, piqa:F, "
                 "winogrande:F, lambada:F or mc:F)", t.kind);
    if (t.path.empty()) fail_input("--tasks: task '{}' needs a file: {}:PATH", t.kind, t.kind);
    out.push_back(t);
  }
  if (out.empty()) fail_input("--tasks: no tasks given");
  return out;
}

nlohmann::json mean_se_json(const MeanSe& m) { return {{"mean", m.mean}, {"se", m.se}, {"n", m.n}}; }

// Per-block sums of a per-token metric, kept in the JSON so a later run can be compared paired.
nlohmann::json block_json(const BlockSums& b) { return {{"block_tokens", 256}, {"sums", b.sums}, {"counts", b.counts}}; }

BlockSums block_from_json(const nlohmann::json& j, const std::string& where) {
  BlockSums b;
  try {
    b.sums = j.at("sums").get<std::vector<double>>();
    b.counts = j.at("counts").get<std::vector<int64_t>>();
  } catch (const nlohmann::json::exception& e) {
    fail_input("{}: block sums unreadable ({})", where, e.what());
  }
  if (b.sums.size() != b.counts.size()) fail_input("{}: block sums and counts differ in length", where);
  return b;
}

// Paired block bootstrap of a per-token metric (mean NLL or KLD) between this run and another.
nlohmann::json bootstrap_json(const std::string& task, const std::string& metric, const nlohmann::json& here,
                              const nlohmann::json& there, const std::string& other_path) {
  const PairedBootstrap pb = paired_block_bootstrap(block_from_json(here, "this run"), block_from_json(there, other_path));
  const std::string verdict = pb.below_noise() ? "difference below noise" : "significant difference";
  fmt::print("paired {}: mean {} here - there = {:+.6f}, 95% CI [{:+.6f}, {:+.6f}] ({} blocks of 256 tokens, {} "
             "resamples), p = {:.4g}: {}\n", task, metric, pb.diff, pb.lo, pb.hi, pb.blocks, pb.iterations, pb.p_value,
             verdict);
  return {{"task", task},       {"metric", metric}, {"other", other_path}, {"difference", pb.diff},
          {"ci95", {pb.lo, pb.hi}}, {"p_value", pb.p_value}, {"blocks", pb.blocks},
          {"test", "paired block bootstrap (256-token blocks), 10000 resamples"}, {"verdict", verdict}};
}

nlohmann::json ppl_task(Forward& fwd, const OpenedModel& m, const TaskSpec& t, const EvalCliOptions& o) {
  PplOptions po;
  if (!ppl_protocol_from_name(o.protocol, &po.protocol))
    fail_input("--protocol {}: expected full-window, llama.cpp or rolling", o.protocol);
  const std::string text = read_text_file(t.path);
  const std::vector<int> stream = m.require_tokenizer().encode(text, false);
  po.ctx = o.ctx > 0 ? o.ctx : std::min<int64_t>(m.model->config.max_seq_len, 2048);
  po.max_windows = o.limit;
  po.progress = !o.quiet;
  const PplResult r = perplexity(fwd, stream, m.model->config.bos_id, po, text);
  fmt::print("ppl {} [{} ctx {}]: {} windows, {} tokens: perplexity {:.6f} +/- {:.6f}\n", t.path, r.protocol, r.ctx,
             r.windows, r.scored, r.ppl, r.ppl_se);
  nlohmann::json j = {{"task", "ppl"},         {"path", t.path},          {"protocol", r.protocol},
                      {"ctx", r.ctx},          {"windows", r.windows},    {"scored_tokens", r.scored},
                      {"stream_tokens", r.stream_tokens}, {"mean_nll", r.mean_nll}, {"se_mean_nll", r.se_mean_nll},
                      {"ppl", r.finite ? nlohmann::json(r.ppl) : nlohmann::json("non-finite")}, {"ppl_se", r.ppl_se}};
  j["block_nll"] = block_json(block_sums(r.token_nll));
  if (r.words > 0) {
    j["words"] = r.words;
    j["bytes"] = r.bytes;
    j["word_perplexity"] = r.word_ppl;
    j["byte_perplexity"] = r.byte_ppl;
    j["bits_per_byte"] = r.bits_per_byte;
  }
  return j;
}

nlohmann::json kld_task(Forward& fwd, const TaskSpec& t, const EvalCliOptions& o) {
  const RefReader ref(t.path);
  KldOptions ko;
  ko.max_windows = o.limit;
  ko.progress = !o.quiet;
  const KldResult r = kld_against_reference(fwd, ref, ko);
  fmt::print("kld {} [{} ctx {}, top-{} {}]: {} windows, {} tokens\n", t.path, r.protocol, r.ctx, r.k, r.dtype,
             r.windows, r.scored);
  fmt::print("  Mean PPL(Q)/PPL(base) {:.6f} +/- {:.6f}   PPL(Q) {:.6f}  PPL(base) {:.6f}  Cor(ln) {:.4f}\n", r.ppl_ratio,
             r.ppl_ratio_se, r.ppl_model, r.ppl_ref, r.nll_correlation);
  fmt::print("  Mean KLD {:.6f} +/- {:.6f}  median {:.6f}  90% {:.6f}  95% {:.6f}  99% {:.6f}  max {:.6f}\n", r.kld.mean,
             r.kld.se, r.kld_median, r.kld_p90, r.kld_p95, r.kld_p99, r.kld_max);
  fmt::print("  tail mass {:.3e}  KLD_exact - KLD_compact in [0, {:.3e}] (mean bound)\n", r.tail_mass_mean,
             r.bound_mean);
  fmt::print("  Same top p {:.3f} +/- {:.3f} %   Mean dp {:.4f} +/- {:.4f} %   RMS dp {:.4f} +/- {:.4f} %\n",
             100 * r.top1.mean, 100 * r.top1.se, 100 * r.dp.mean, 100 * r.dp.se, 100 * r.rms_dp, 100 * r.rms_dp_se);
  fmt::print("  dp percentiles: 1% {:.4f}  5% {:.4f}  median {:.4f}  95% {:.4f}  99% {:.4f}\n", r.dp_p01, r.dp_p05,
             r.dp_median, r.dp_p95, r.dp_p99);
  const RefHeader& h = ref.header();
  nlohmann::json blocks = block_json(block_sums(r.token_kld));
  return {{"task", "kld"},
          {"block_kld", blocks},
          {"reference", t.path},
          {"reference_model", h.model},
          {"reference_text", h.text},
          {"protocol", r.protocol},
          {"ctx", r.ctx},
          {"top_k", r.k},
          {"dtype", r.dtype},
          {"windows", r.windows},
          {"scored_tokens", r.scored},
          {"kld",
           {{"mean", r.kld.mean}, {"se", r.kld.se}, {"min", r.kld_min}, {"p1", r.kld_p01}, {"p5", r.kld_p05},
            {"p10", r.kld_p10}, {"median", r.kld_median}, {"p90", r.kld_p90}, {"p95", r.kld_p95}, {"p99", r.kld_p99},
            {"p99_9", r.kld_p999}, {"max", r.kld_max}}},
          {"compact_bound", {{"tail_mass_mean", r.tail_mass_mean}, {"gap_upper_bound_mean", r.bound_mean}}},
          {"top1_agreement", mean_se_json(r.top1)},
          {"delta_p",
           {{"mean", r.dp.mean}, {"se", r.dp.se}, {"rms", r.rms_dp}, {"rms_se", r.rms_dp_se}, {"min", r.dp_min},
            {"p0_1", r.dp_p001}, {"p1", r.dp_p01}, {"p5", r.dp_p05}, {"p10", r.dp_p10}, {"p25", r.dp_p25},
            {"median", r.dp_median}, {"p75", r.dp_p75}, {"p90", r.dp_p90}, {"p95", r.dp_p95}, {"p99", r.dp_p99},
            {"p99_9", r.dp_p999}, {"max", r.dp_max}}},
          {"ppl",
           {{"model", r.ppl_model}, {"reference", r.ppl_ref}, {"ratio", r.ppl_ratio}, {"ratio_se", r.ppl_ratio_se},
            {"ln_ratio", r.ln_ratio}, {"ln_ratio_se", r.ln_ratio_se}, {"diff", r.ppl_diff}, {"diff_se", r.ppl_diff_se},
            {"nll_correlation", r.nll_correlation}, {"mean_nll_model", mean_se_json(r.nll_model)},
            {"mean_nll_reference", mean_se_json(r.nll_ref)}}}};
}

nlohmann::json mc_task(Forward& fwd, const OpenedModel& m, const TaskSpec& t, const EvalCliOptions& o,
                       std::string& markdown) {
  TaskReadOptions ro;
  ro.limit = o.limit;
  ro.skip_invalid = o.skip_invalid;
  const McTask task = read_mc_task(t.kind, t.path, ro);
  McScoringOptions so;
  so.prefix_reuse = !o.no_prefix_reuse;
  so.progress = !o.quiet;
  const McResult r = score_mc_task(fwd, m.require_tokenizer(), m.model->config.bos_id, task, so);
  std::string line = fmt::format("{} {}: {} items: acc {:.4f} +/- {:.4f}", r.name, r.path, r.n, r.acc.mean, r.acc.se);
  if (r.report_acc_norm) line += fmt::format("  acc_norm {:.4f} +/- {:.4f}", r.acc_norm.mean, r.acc_norm.se);
  if (r.metric == "greedy") line += fmt::format("  ppl {:.4f}", r.ppl);
  if (r.invalid > 0) line += fmt::format("  ({} malformed lines skipped)", r.invalid);
  fmt::print("{}\n", line);
  nlohmann::json j = {{"task", r.name}, {"path", r.path},       {"metric", r.metric},
                      {"items", r.n},   {"invalid_skipped", r.invalid}, {"tokens_scored", r.tokens_scored},
                      {"acc", r.acc.mean}, {"acc_se", r.acc.se}};
  if (r.report_acc_norm) {
    j["acc_norm"] = r.acc_norm.mean;
    j["acc_norm_se"] = r.acc_norm.se;
  }
  if (r.metric == "greedy") j["ppl"] = r.ppl;
  std::string bits(r.correct.size(), '0');
  for (size_t i = 0; i < r.correct.size(); ++i) bits[i] = r.correct[i] ? '1' : '0';
  j["correct"] = bits;
  if (!r.groups.empty()) {
    nlohmann::json groups = nlohmann::json::array();
    double macro = 0;
    markdown += fmt::format("| {} | items | acc | ± se |\n|---|---:|---:|---:|\n", r.name == "blimp" ? "phenomenon" : "group");
    for (const McGroupResult& g : r.groups) {
      groups.push_back({{"group", g.group}, {"items", g.n}, {"acc", g.acc.mean}, {"acc_se", g.acc.se}});
      markdown += fmt::format("| {} | {} | {:.3f} | {:.3f} |\n", g.group, g.n, g.acc.mean, g.acc.se);
      macro += g.acc.mean;
    }
    macro /= double(r.groups.size());
    j["groups"] = groups;
    j["acc_macro"] = macro;
    markdown += fmt::format("| **overall (all items)** | {} | **{:.3f}** | {:.3f} |\n", r.n, r.acc.mean, r.acc.se);
    markdown += fmt::format("| mean over {} groups | | {:.3f} | |\n\n", r.groups.size(), macro);
    fmt::print("  {} groups, mean over groups {:.4f}\n", r.groups.size(), macro);
  }
  return j;
}

// McNemar between this run and an earlier `eval --json` of another model on the same tasks.
nlohmann::json paired_tests(const nlohmann::json& tasks, const std::string& other_path) {
  nlohmann::json other;
  try {
    other = nlohmann::json::parse(read_text_file(other_path));
  } catch (const nlohmann::json::exception& e) {
    fail_input("--paired {}: not valid JSON ({})", other_path, e.what());
  }
  if (!other.contains("tasks") || !other["tasks"].is_array())
    fail_input("--paired {}: no 'tasks' list (expected the --json output of quantscope eval)", other_path);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& t : tasks) {
    for (const auto& [key, metric] : {std::pair<std::string, std::string>{"block_nll", "NLL (ln perplexity ratio)"},
                                      {"block_kld", "KLD"}}) {
      if (!t.contains(key)) continue;
      for (const auto& u : other["tasks"])
        if (u.is_object() && u.value("task", "") == t["task"] && u.contains(key) &&
            u.value("path", u.value("reference", "")) == t.value("path", t.value("reference", "")) &&
            u.value("protocol", "") == t.value("protocol", "") && u.value("ctx", 0) == t.value("ctx", 0))
          out.push_back(bootstrap_json(t["task"].get<std::string>(), metric, t[key], u[key], other_path));
    }
    if (!t.contains("correct")) continue;
    for (const auto& u : other["tasks"]) {
      if (!u.is_object() || u.value("task", "") != t["task"] || u.value("path", "") != t["path"] || !u.contains("correct"))
        continue;
      const std::string a = t["correct"], b = u["correct"].is_string() ? u["correct"].get<std::string>() : "";
      if (a.size() != b.size())
        fail_input("--paired {}: task {} has {} items there but {} here (use the same --limit)", other_path,
                   t["task"].get<std::string>(), b.size(), a.size());
      std::vector<uint8_t> ca(a.size()), cb(b.size());
      for (size_t i = 0; i < a.size(); ++i) {
        ca[i] = a[i] == '1';
        cb[i] = b[i] == '1';
      }
      const McNemar m = mcnemar(ca, cb);
      const double acc_a = double(m.both + m.only_a) / double(a.size()), acc_b = double(m.both + m.only_b) / double(a.size());
      const std::string verdict = m.below_noise() ? "difference below noise" : "significant difference";
      fmt::print("paired {}: acc {:.4f} here vs {:.4f} there; only here {} / only there {}; McNemar exact p = {:.4g}: {} "
                 "(alpha 0.05)\n", t["task"].get<std::string>(), acc_a, acc_b, m.only_a, m.only_b, m.p_value, verdict);
      out.push_back({{"task", t["task"]},  {"path", t["path"]},   {"other", other_path},   {"acc", acc_a},
                     {"acc_other", acc_b}, {"both", m.both},      {"only_this", m.only_a}, {"only_other", m.only_b},
                     {"neither", m.neither}, {"test", "McNemar exact binomial, two-sided"}, {"p_value", m.p_value},
                     {"alpha", 0.05},      {"verdict", verdict}});
    }
  }
  return out;
}

int run_eval(const EvalCliOptions& o) {
  const std::vector<TaskSpec> specs = parse_tasks(o.tasks);
  ModelOptions mo = o.model;
  if (!o.quant.empty()) mo.model = o.quant;  // the quantized model carries its source's config and tokenizer
  OpenedModel m = open_model(mo);
  Forward fwd(*m.model);
  nlohmann::json tasks = nlohmann::json::array();
  std::string markdown;
  for (const TaskSpec& t : specs) {
    if (t.kind == "ppl") tasks.push_back(ppl_task(fwd, m, t, o));
    else if (t.kind == "kld") tasks.push_back(kld_task(fwd, t, o));
    else tasks.push_back(mc_task(fwd, m, t, o, markdown));
  }
  nlohmann::json j = {{"model", m.model->path},     {"synthetic", m.model->config.synthetic},
                      {"limit", o.limit},           {"threads", num_threads()},
                      {"tasks", tasks},             {"quantscope_version", build_version()},
                      {"commit", build_commit()}};
  if (!o.paired.empty()) j["paired"] = paired_tests(tasks, o.paired);
  if (!o.json.empty()) write_file_atomic(o.json, j.dump(2) + "\n");
  if (!o.markdown.empty()) write_file_atomic(o.markdown, markdown);
  return 0;
}

CommandRegistration reg({"eval", "perplexity, KL divergence to a reference, multiple-choice tasks", [](CLI::App& app) {
                           auto o = std::make_shared<EvalCliOptions>();
                           add_model_options(app, o->model);
                           add_target_option(app, o->model);
                           app.add_option("--quant", o->quant, "evaluate this quantized directory of MODEL");
                           app.add_option("--tasks", o->tasks,
                                          "comma-separated: ppl:FILE, kld:REF, blimp[:DIR], hellaswag:F, arc:F, piqa:F, "
                                          "winogrande:F, lambada:F, mc:F (generic {context, choices, answer})")
                               ->required();
                           app.add_option("--limit", o->limit,
                                          "items per task file (BLiMP: per phenomenon); windows for ppl and kld")
                               ->check(CLI::NonNegativeNumber);
                           app.add_option("--json", o->json, "write every result as JSON");
                           app.add_option("--markdown", o->markdown, "write per-group accuracy tables (markdown)");
                           app.add_flag("--skip-invalid", o->skip_invalid, "skip and count malformed task lines");
                           app.add_option("--protocol", o->protocol, "ppl tasks: full-window (default), llama.cpp, rolling");
                           app.add_option("--ctx", o->ctx, "ppl tasks: context (default: model maximum, at most 2048)")
                               ->check(CLI::PositiveNumber);
                           app.add_option("--paired", o->paired,
                                          "eval --json of another model on the same tasks: McNemar test per task");
                           app.add_flag("--no-prefix-reuse", o->no_prefix_reuse,
                                        "run every choice from BOS (for checking; scores are identical)");
                           app.add_flag("-q,--quiet", o->quiet, "no progress display");
                           return [o] { return run_eval(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
