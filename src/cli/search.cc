// quantscope search MODEL --ref REF --budget-bits B [--target T] [--candidates JSON] --out RECIPE.json
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
  double budget_bits = 4.0;
  int64_t max_windows = 0;
  CalibrationCliOptions calib{{}, 32, 256, 0};
  bool quiet = false;
};

int run_search(const SearchCliOptions& o) {
  SearchOptions so;
  const nlohmann::json cands = read_json_arg(o.candidates, "--candidates", R"([{"method": "rtn", "w_bits": 4}, ...])");
  if (!cands.is_array() || cands.empty()) fail_input("--candidates: expected a non-empty JSON list of schemes");
  for (const auto& c : cands) so.candidates.push_back(c);
  so.budget_bits = o.budget_bits;
  so.target = o.target;
  so.kld.max_windows = o.max_windows;
  so.progress = !o.quiet;
  OpenedModel m = open_model(o.model);
  const std::optional<CalibrationSet> calib = build_cli_calibration(m, o.calib);
  so.calib = calib ? &*calib : nullptr;
  m.model.reset();
  const RefReader ref(o.ref);
  const auto load = [&] { return load_any_model(o.model.model); };
  const SearchResult r = search_mixed_precision(load, ref, so);
  fmt::print("target {}  budget {:.3f} bits/weight (decoder linears)\n", r.target, r.budget_bits);
  fmt::print("{:<28} {:>7} {:>12} {:>10}\n", "candidate", "bits", "uniform KLD", "+/-");
  for (const auto& c : r.candidates) {
    if (!c.refused.empty()) fmt::print("{:<28} {:>7.3f}  refused: {}\n", c.describe, c.bits, c.refused);
    else fmt::print("{:<28} {:>7.3f} {:>12.6f} {:>10.6f}\n", c.describe, c.bits, c.uniform_kld.mean, c.uniform_kld.se);
  }
  std::map<std::string, int> counts;
  for (int c : r.choice) ++counts[r.candidates[size_t(c)].describe];
  fmt::print("searched: {:.3f} bits/weight; tensors per scheme:", r.bits);
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
                         "bits-per-weight budget; writes the recipe",
                         [](CLI::App& app) {
                           auto o = std::make_shared<SearchCliOptions>();
                           add_model_options(app, o->model);
                           app.add_option("--ref", o->ref, "reference file of the full-precision model")->required();
                           app.add_option("--budget-bits", o->budget_bits,
                                          "average bits per weight over the decoder linears (default 4)")
                               ->check(CLI::PositiveNumber);
                           app.add_option("--target", o->target, "target the recipe is for (default: host)");
                           app.add_option("--candidates", o->candidates,
                                          "JSON list of schemes or @FILE (default: rtn w8 channel, w4/w3/w2 g32)");
                           app.add_option("--max-windows", o->max_windows, "reference windows to score (0: all)");
                           add_calibration_options(app, o->calib);
                           app.add_option("--out", o->out, "recipe file to write")->required();
                           app.add_option("--json", o->json, "write the search (candidates, choices, KLDs) as JSON");
                           app.add_flag("-q,--quiet", o->quiet, "no progress display");
                           return [o] { return run_search(*o); };
                         }});

}  // namespace

}  // namespace quantscope::cli
