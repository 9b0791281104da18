// quantscope search MODEL --ref REF --budget bits=B|bytes=X|decode-tok-s=Y [--target T] [--context C]
//                  [--candidates JSON] --out RECIPE.json [--json OUT]
// (--budget-bits B is --budget bits=B.) The chosen recipe and every candidate are printed with their
// measured KLD, bits per weight, stored bytes on the target and projected decode tokens/s.
#include <fmt/format.h>

#include "analysis/mixed_search.h"
#include "cli/calibration_options.h"
#include "cli/command.h"
#include "cli/json_arg.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/file_io.h"
#include "quant/quantized_model.h"

namespace quantscope::cli {

namespace {

// RTN at 8 bits per channel and 4/3/2 bits in groups of 32: weight-only schemes every target has some
// kernel for at 8 and 4 bits (the target check drops what it cannot run).
const char* kDefaultCandidates = R"([
  {"method": "rtn", "w_bits": 8, "granularity": "channel"},
  {"method": "rtn", "w_bits": 4, "group_size": 32},
  {"method": "rtn", "w_bits": 3, "group_size": 32},
  {"method": "rtn", "w_bits": 2, "group_size": 32}])";

struct SearchCliOptions {
  ModelOptions model;
  std::string ref, target, candidates = kDefaultCandidates, out, json;
  std::string budget;  // "" = --budget-bits
  double budget_bits = 4.0;
  int64_t context = -1, max_windows = 0;
  CalibrationCliOptions calib{{}, 32, 256, 0};
  bool quiet = false;
};

int run_search(const SearchCliOptions& o) {
  SearchOptions so;
  const nlohmann::json cands = read_json_arg(o.candidates, "--candidates", R"([{"method": "rtn", "w_bits": 4}, ...])");
  if (!cands.is_array() || cands.empty()) fail_input("--candidates: expected a non-empty JSON list of schemes");
  for (const auto& c : cands) so.candidates.push_back(c);
  so.budget =
      o.budget.empty() ? SearchBudget{BudgetKind::Bits, o.budget_bits} : parse_search_budget(o.budget, "--budget");
  so.target = o.target;
  so.context = o.context;
  so.kld.max_windows = o.max_windows;
  so.progress = !o.quiet;
  OpenedModel m = open_model(o.model);
  const std::optional<CalibrationSet> calib = build_cli_calibration(m, o.calib);
  so.calib = calib ? &*calib : nullptr;
  m.model.reset();
  const RefReader ref(o.ref);
  const auto load = [&] { return load_any_model(o.model.model); };
  const SearchResult r = search_mixed_precision(load, ref, so);
  fmt::print("target {}  budget {}  (bits: average per weight, bytes: stored on the target, both over the decoder "
             "linears; tok/s: roofline-projected batch-1 decode at context {}, an upper bound)\n",
             r.target, r.budget.to_string(), r.context);
  fmt::print("{:<28} {:>7} {:>11} {:>11} {:>12} {:>10}\n", "candidate", "bits", "bytes", "tok/s", "uniform KLD", "+/-");
  const auto spend_columns = [](const SearchSpend& s) {
    return fmt::format("{:>7.3f} {:>11.0f} {:>11.1f}", s.bits, s.bytes, s.decode_tok_s);
  };
  for (const auto& c : r.candidates) {
    if (!c.refused.empty()) fmt::print("{:<28} {}  refused: {}\n", c.describe, spend_columns(c.spent), c.refused);
    else
      fmt::print("{:<28} {} {:>12.6f} {:>10.6f}\n", c.describe, spend_columns(c.spent), c.uniform_kld.mean,
                 c.uniform_kld.se);
  }
  fmt::print("{:<28} {} {:>12.6f} {:>10.6f}  ({}-bound)\n", "searched", spend_columns(r.spent), r.measured_kld.mean,
             r.measured_kld.se, r.spent.decode_bound);
  std::map<std::string, int> counts;
  for (int c : r.choice) ++counts[r.candidates[size_t(c)].describe];
  fmt::print("  tensors per scheme:");
  for (const auto& [d, n] : counts) fmt::print(" {} x{}", d, n);
  fmt::print("\n  predicted KLD {:.6f} (sum of per-tensor KLDs), measured {:.6f} +/- {:.6f}\n", r.predicted_kld,
             r.measured_kld.mean, r.measured_kld.se);
  write_file_atomic(o.out, r.recipe.dump(2) + "\n");
  fmt::print("wrote {}\n", o.out);
  if (!o.json.empty()) write_file_atomic(o.json, r.to_json().dump(2) + "\n");
  return 0;
}

CommandRegistration reg({"search",
                         "choose a scheme per tensor among candidates a target runs, minimising measured KLD under a "
                         "budget of bits per weight, stored bytes on the target or projected decode tokens/s; writes "
                         "the recipe",
                         [](CLI::App& app) {
                           auto o = std::make_shared<SearchCliOptions>();
                           add_model_options(app, o->model);
                           app.add_option("--ref", o->ref, "reference file of the full-precision model")->required();
                           CLI::Option* budget = app.add_option(
                               "--budget", o->budget,
                               "bits=B (average bits per weight over the decoder linears), bytes=X (their stored "
                               "bytes on the target; 300K, 1.5M, 2G, 2.5e6 accepted) or decode-tok-s=Y (projected "
                               "batch-1 decode tokens/s on the target, at least Y). Default: bits=4");
                           app.add_option("--budget-bits", o->budget_bits, "same as --budget bits=B")
                               ->check(CLI::PositiveNumber)
                               ->excludes(budget);
                           app.add_option("--target", o->target, "target the recipe is for (default: host)");
                           app.add_option("--context", o->context,
                                          "KV positions of the projected decode token (default: the model's "
                                          "max_seq_len, the slowest token of a full context)")
                               ->check(CLI::NonNegativeNumber);
                           app.add_option("--candidates", o->candidates,
                                          "JSON list of schemes or @FILE (default: rtn w8 channel, w4/w3/w2 g32)");
                           app.add_option("--max-windows", o->max_windows, "reference windows to score (0: all)");
                           add_calibration_options(app, o->calib);
                           app.add_option("--out", o->out, "recipe file to write")->required();
                           app.add_option("--json", o->json,
                                          "write the search (budget, candidates, choices, KLDs; bits, bytes and "
                                          "projected decode tok/s of each) as JSON");
                           app.add_flag("-q,--quiet", o->quiet, "no progress display");
                           return [o] { return run_search(*o); };
                         }});

}  // namespace

}  // namespace quantscope::cli
