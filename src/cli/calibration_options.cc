#include "cli/calibration_options.h"

#include <fmt/format.h>

namespace quantscope::cli {

void add_calibration_options(CLI::App& app, CalibrationCliOptions& o) {
  app.add_option("--calib", o.files, "calibration text file(s)");
  app.add_option("--nsamples", o.nsamples, fmt::format("calibration samples (default {})", o.nsamples))
      ->check(CLI::PositiveNumber);
  app.add_option("--seqlen", o.seqlen, fmt::format("tokens per sample incl. BOS (default {})", o.seqlen))
      ->check(CLI::Range(int64_t(2), int64_t(1) << 20));
  app.add_option("--seed", o.seed, "sampling seed (default 0)");
}

std::optional<CalibrationSet> build_cli_calibration(const OpenedModel& m, const CalibrationCliOptions& o) {
  if (o.files.empty()) return std::nullopt;
  CalibrationOptions co;
  co.files = o.files;
  co.nsamples = o.nsamples;
  co.seqlen = o.seqlen;
  co.seed = o.seed;
  CalibrationSet calib = build_calibration(m.require_tokenizer(), co, m.model->config.bos_id);
  fmt::print("calibration: {} samples x {} tokens from {} text tokens (seed {}, hash {})\n", co.nsamples, co.seqlen,
             calib.stream_tokens, co.seed, calib.hash);
  return calib;
}

}  // namespace quantscope::cli
