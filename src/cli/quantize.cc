// quantscope quantize MODEL --recipe R.json [--calib FILE...] [--nsamples N --seqlen L --seed S] --out DIR
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <optional>

#include "cli/calibration_options.h"
#include "cli/command.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/file_io.h"
#include "quant/calibration.h"
#include "quant/quantize_job.h"
#include "quant/recipe.h"

namespace quantscope::cli {
namespace {

struct QuantizeCliOptions {
  ModelOptions model;
  std::string recipe, out, json;
  CalibrationCliOptions calib;
  bool quiet = false;
};

int run_quantize(const QuantizeCliOptions& o) {
  const Recipe recipe = read_recipe(o.recipe);
  OpenedModel m = open_model(o.model);
  const std::optional<CalibrationSet> calib = build_cli_calibration(m, o.calib);
  QuantizeOptions qo;
  qo.progress = !o.quiet;
  const QuantizeJobResult job = quantize_and_save(*m.model, recipe, o.recipe, calib ? &*calib : nullptr, o.out,
                                                  m.tokenizer ? m.tokenizer->source() : std::string(), qo);
  const QuantizeReport& rep = job.report;

  fmt::print("{:<48} {:<34} {:>7} {:>10} {:>10}\n", "tensor", "scheme", "bits/w", "rel_w_err", "rel_out_err");
  for (const auto& t : rep.tensors) {
    const std::string oe = t.rel_output_error < 0 ? std::string("-") : fmt::format("{:.6f}", t.rel_output_error);
    fmt::print("{:<48} {:<34} {:>7.3f} {:>10.6f} {:>10}{}\n", t.name, t.scheme, t.bits_per_weight, t.rel_weight_error,
               oe, t.note.empty() ? "" : "  " + t.note);
  }
  if (m.model->kv_quant.enabled()) fmt::print("KV cache: {}\n", m.model->kv_quant.describe());
  if (rep.non_finite)
    fmt::print("NON-FINITE: first {} of {} at token {} feature {} ({})\n", rep.non_finite->where,
               rep.non_finite->tensor, rep.non_finite->token, rep.non_finite->feature, rep.non_finite->value);
  else if (calib)
    fmt::print("no NaN/Inf in a forward pass of the quantized model over {} calibration samples\n",
               std::min<int64_t>(qo.check_samples, int64_t(calib->samples.size())));

  if (!o.json.empty()) write_file_atomic(o.json, rep.to_json().dump(2) + "\n");
  fmt::print("wrote {} ({:.1f} s)\n", o.out, rep.seconds);
  return 0;
}

CommandRegistration reg({"quantize", "quantize a model by a recipe and save it", [](CLI::App& app) {
                           auto o = std::make_shared<QuantizeCliOptions>();
                           add_model_options(app, o->model);
                           app.add_option("--recipe", o->recipe, "recipe JSON")->required();
                           add_calibration_options(app, o->calib);
                           app.add_option("--out", o->out, "output directory")->required();
                           app.add_option("--json", o->json, "write the per-tensor error table as JSON");
                           app.add_flag("-q,--quiet", o->quiet, "no progress display");
                           return [o] { return run_quantize(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
