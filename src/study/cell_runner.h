// Runs one study cell: the quantized model it needs (quantized once and cached on disk by its content
// key, shared by every cell, process and rank that needs it), opened as the cell's target runs it,
// then the cell's task through the evaluation layer (the same calls `quantscope quantize`, `ref` and
// `eval` make). Returns the stored form of the cell: its metrics and provenance.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eval/open_model.h"
#include "quant/calibration.h"
#include "study/results_store.h"
#include "study/study_plan.h"

namespace quantscope {

struct CellRunContext {
  std::string cache_dir;     // quantized models and KLD references live here (shared between runs)
  std::string run_id;
  std::string command_line;
  int rank = 0;              // MPI rank, recorded in provenance
};

class CellRunner {
 public:
  CellRunner(const StudyPlan& plan, CellRunContext ctx);
  CellRecord run(const StudyCell& cell);
  // The stored form of a refused cell (no work, the reason only).
  CellRecord refused_record(const StudyCell& cell, const std::string& reason) const;

 private:
  std::string quantized_model_dir(const StudyCell& cell);  // quantizes into the cache when missing
  // The study's calibration set for the cell's seed; none when the recipe does not calibrate.
  std::optional<CalibrationSet> calibration(const StudyCell& cell, const OpenedModel& m) const;
  std::vector<Metric> sensitivity_metrics(const StudyCell& cell);
  std::string kld_reference(const StudyCell& cell);        // writes the fp model's reference when missing
  const std::vector<int>& token_stream(const StudyCell& cell, const class Tokenizer& tok);
  CellRecord base_record(const StudyCell& cell) const;

  const StudyPlan& plan_;
  CellRunContext ctx_;
  std::map<std::string, std::vector<int>> streams_;  // (model, text) -> tokens: tokenize each text once
};

}  // namespace quantscope
