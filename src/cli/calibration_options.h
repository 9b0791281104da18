// --calib FILE... --nsamples N --seqlen L --seed S, shared by the commands that quantize.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

#include "cli/model_options.h"
#include "quant/calibration.h"

namespace quantscope::cli {

struct CalibrationCliOptions {
  std::vector<std::string> files;
  int64_t nsamples = 128, seqlen = 512;
  uint64_t seed = 0;
};

// Registers the four flags; `o` holds the command's defaults (shown in the help).
void add_calibration_options(CLI::App& app, CalibrationCliOptions& o);

// The calibration set when --calib was given (printing one line about it), else nothing.
std::optional<CalibrationSet> build_cli_calibration(const OpenedModel& m, const CalibrationCliOptions& o);

}  // namespace quantscope::cli
