// quantscope sensitivity MODEL --scheme JSON --ref REF [--target T,...] [--unit tensor|layer|role|block]
//   [--reverse] [--calib FILE ...] [--max-windows N] [--json OUT] [--csv OUT]
#include <fmt/format.h>

#include <cmath>
#include <optional>

#include "analysis/sensitivity.h"
#include "cli/calibration_options.h"
#include "cli/command.h"
#include "cli/json_arg.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"
#include "quant/quantized_model.h"

namespace quantscope::cli {

namespace {

struct SensitivityCliOptions {
  ModelOptions model;
  std::string scheme, ref, unit = "tensor", json, csv;
  std::vector<std::string> targets;
  CalibrationCliOptions calib{{}, 32, 256, 0};
  bool reverse = false, quiet = false;
  int64_t max_windows = 0;
};

nlohmann::json read_scheme(const std::string& arg) {
  nlohmann::json j = read_json_arg(arg, "--scheme", R"({"method": "rtn", "w_bits": 4, "group_size": 32})");
  if (!j.is_object()) fail_input("--scheme: expected a JSON object (a recipe scheme), got {}", j.dump());
  return j;
}

std::string fmt_proxy(double v) { return std::isnan(v) ? std::string("-") : fmt::format("{:.4f}", v); }
// Proxy values span decades (the Hessian trace is in activation^2): 4 significant digits.
std::string fmt_value(double v) { return std::isnan(v) ? std::string("-") : fmt::format("{:.4g}", v); }

void print_result(const SensitivityResult& r) {
  fmt::print("\ntarget {}  scheme {}  unit {}{}\n", r.target, r.scheme, r.unit,
             r.reverse ? fmt::format("  REVERSE (everything quantized but the unit; all quantized: KLD {:.6f} +/- {:.6f})",
                                     r.all_quantized_kld.mean, r.all_quantized_kld.se)
                       : "");
  fmt::print("{:<46} {:>12} {:>10} {:>8} {:>9}", "unit", "KLD", "+/-", "top1", "ppl x");
  for (const SensitivityProxy& p : sensitivity_proxies()) fmt::print(" {:>10}", p.heading);
  fmt::print("\n");
  for (const auto& u : r.units) {
    fmt::print("{:<46} {:>12.6f} {:>10.6f} {:>8.4f} {:>9.4f}", u.unit, u.kld.mean, u.kld.se, u.top1.mean, u.ppl_ratio);
    for (const SensitivityProxy& p : sensitivity_proxies()) fmt::print(" {:>10}", fmt_value(u.*p.unit));
    fmt::print("\n");
  }
  for (const auto* roll : {&r.by_block, &r.by_role, &r.by_layer}) {
    if (roll->empty()) continue;
    fmt::print("  sum of tensor KLDs:");
    for (const auto& g : *roll) fmt::print("  {} {:.6f} +/- {:.6f}", g.group, g.kld, g.se);
    fmt::print("\n");
  }
  if (!r.reverse) {
    fmt::print("  Spearman rank correlation of unit KLD with:");
    for (const SensitivityProxy& p : sensitivity_proxies()) fmt::print(" {} {}", p.name, fmt_proxy(r.*p.spearman));
    fmt::print("\n");
  }
}

std::string csv_of(const std::vector<SensitivityResult>& results) {
  std::string s = "target,scheme,unit_kind,reverse,unit,layer,role,attention,kld,kld_se,top1,ppl_ratio";
  for (const SensitivityProxy& p : sensitivity_proxies()) s += fmt::format(",{}", p.name);
  s += "\n";
  for (const auto& r : results)
    for (const auto& u : r.units) {
      s += fmt::format("{},{},{},{},{},{},{},{},{:.9g},{:.9g},{:.6f},{:.6f}", r.target, r.scheme, r.unit,
                       r.reverse ? 1 : 0, u.unit, u.layer, u.role, u.attention ? 1 : 0, u.kld.mean, u.kld.se,
                       u.top1.mean, u.ppl_ratio);
      for (const SensitivityProxy& p : sensitivity_proxies())
        s += std::isnan(u.*p.unit) ? std::string(",") : fmt::format(",{:.9g}", u.*p.unit);
      s += "\n";
    }
  return s;
}

int run_sensitivity(const SensitivityCliOptions& o) {
  SensitivityOptions so;
  so.scheme = read_scheme(o.scheme);
  if (!sensitivity_unit_from_name(o.unit, &so.unit))
    fail_input("--unit: '{}' is not one of tensor, layer, role, block", o.unit);
  so.reverse = o.reverse;
  so.kld.max_windows = o.max_windows;
  so.progress = !o.quiet;
  OpenedModel m = open_model(o.model);  // threads, tokenizer, and a first check that the model loads
  const std::optional<CalibrationSet> calib = build_cli_calibration(m, o.calib);
  so.calib = calib ? &*calib : nullptr;
  for (const std::string& t : o.targets) check_sensitivity_target(*m.model, so.scheme, t);
  m.model.reset();
  const RefReader ref(o.ref);
  LoadOptions lo;
  const auto load = [&] { return load_any_model(o.model.model, lo); };
  std::vector<SensitivityResult> results;
  const std::vector<std::string> targets = o.targets.empty() ? std::vector<std::string>{""} : o.targets;
  for (const std::string& t : targets) {
    so.target = t == "host" ? "" : t;
    results.push_back(measure_sensitivity(load, ref, so));
    print_result(results.back());
  }
  nlohmann::json agreement = nlohmann::json::array();
  for (size_t a = 0; a < results.size(); ++a)
    for (size_t b = a + 1; b < results.size(); ++b) {
      const double rho = sensitivity_rank_agreement(results[a], results[b]);
      fmt::print("ranking {} vs {}: Spearman {}\n", results[a].target, results[b].target, fmt_proxy(rho));
      agreement.push_back({{"a", results[a].target}, {"b", results[b].target},
                           {"spearman", std::isnan(rho) ? nlohmann::json(nullptr) : nlohmann::json(rho)}});
    }
  if (!o.json.empty()) {
    nlohmann::json j = {{"model", o.model.model}, {"reference", o.ref}, {"results", nlohmann::json::array()},
                        {"target_agreement", agreement}};
    for (const auto& r : results) j["results"].push_back(r.to_json());
    write_file_atomic(o.json, j.dump(2) + "\n");
  }
  if (!o.csv.empty()) write_file_atomic(o.csv, csv_of(results));
  return 0;
}

CommandRegistration reg({"sensitivity",
                         "quantize one unit at a time (tensor, layer, role, attention vs MLP) and measure KLD to a "
                         "reference, per target",
                         [](CLI::App& app) {
                           auto o = std::make_shared<SensitivityCliOptions>();
                           add_model_options(app, o->model);
                           app.add_option("--scheme", o->scheme, "scheme JSON (as in a recipe) or @FILE")->required();
                           app.add_option("--ref", o->ref, "reference file of the full-precision model (quantscope ref)")
                               ->required();
                           app.add_option("--target", o->targets, "target(s) to run under (host, ascend-910b1, ...)")
                               ->delimiter(',');
                           app.add_option("--unit", o->unit, "tensor (default), layer, role or block (attention vs MLP)");
                           app.add_flag("--reverse", o->reverse, "quantize everything except the unit");
                           add_calibration_options(app, o->calib);
                           app.add_option("--max-windows", o->max_windows, "reference windows to score (0: all)");
                           app.add_option("--json", o->json, "write every result as JSON");
                           app.add_option("--csv", o->csv, "write every unit as CSV");
                           app.add_flag("-q,--quiet", o->quiet, "no progress display");
                           return [o] { return run_sensitivity(*o); };
                         }});

}  // namespace

}  // namespace quantscope::cli
