// Running a study plan into a results store in this process: every runnable cell not already stored
// (all of them with `force`), or one deterministic shard of them (--shard i/N); one line per cell on
// stderr. The store gets each cell in its own transaction as soon as it is done, so a killed run keeps
// every finished cell and the next run does only what is missing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "study/results_store.h"
#include "study/study_plan.h"

namespace quantscope {

struct StudyRunOptions {
  std::string db;
  std::string cache_dir;  // default: <db without .db>.cache
  bool force = false;     // recompute and replace cells already stored
  int shard = 0, shards = 1;
  bool quiet = false;
  std::string command_line;
};

struct StudyRunSummary {
  int64_t computed = 0;        // cells evaluated in this run
  int64_t already_stored = 0;  // skipped: their key is in the store
  int64_t refused = 0;         // stored as refused (invalid recipe or target refusal)
  double seconds = 0;
  bool reporter = true;  // false on MPI ranks other than 0 (rank 0 prints the summary)
};

// "<db minus .db>.cache" unless given.
std::string default_cache_dir(const std::string& db);
// A run id unique across hosts and processes (host, pid, time).
std::string new_run_id();
RunRecord make_run_record(const StudyPlan& plan, const StudyRunOptions& o, const std::string& run_id);

// The cells this process should store: the shard's cells (refused ones only in shard 0, so merged
// shards hold each exactly once), minus those already in `have` unless `force`.
std::vector<size_t> cells_to_run(const StudyPlan& plan, const std::vector<size_t>& candidates, bool force,
                                 const std::set<std::string>& have);

StudyRunSummary run_study_serial(const StudyPlan& plan, const StudyRunOptions& o);

// One progress line, with the time since the run started and the rest estimated from the mean so far:
// "[12/40 0:23 ~0:54 left] gptq W4 g32 | ascend-910b1 | ppl: ppl 9.81 +/- 0.31 (0.4 s)".
std::string cell_progress_line(int64_t done, int64_t total, const CellRecord& r, double elapsed_s);

}  // namespace quantscope
