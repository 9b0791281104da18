// The results store: one SQLite database (WAL journal) per study run or per shard.
//   runs        (run_id, study, spec, command_line, commit_id, version, host, started, ended)
//   cells       (key, run_id, study, model, model_hash, recipe, recipe_json, quant_key, seed, target, task,
//                status 'done' | 'refused', reason)
//   metrics     (cell_key, name, value, error, count, protocol): one row per number a cell measured
//   provenance  (cell_key, command_line, commit_id, version, host, rank, started, ended, wall_s,
//                peak_rss_bytes)
//   view results: cells joined with their metrics, what `results query` filters.
// A cell, its metrics and its provenance are written in one transaction, so a killed process leaves
// only whole cells. A cell already stored is never overwritten unless the caller asks (--force).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

struct sqlite3;

namespace quantscope {

struct Metric {
  std::string name;   // "ppl", "mean_nll", "kld", "top1", "acc"
  double value = 0;
  double error = 0;   // standard error of the value (same units)
  int64_t count = 0;  // tokens or items it was measured over
  std::string protocol;
  bool operator==(const Metric& o) const;
};

// The metric name of a sensitivity cell's unit: "unit_kld/LAYER/ROLE" (e.g. "unit_kld/3/attn_q"), the KLD
// with only that decoder linear quantized. Written by the cell runner, read by the runner's progress line
// and the report.
std::string unit_kld_metric_name(int layer, const std::string& role);
bool is_unit_kld_metric(const std::string& name);
// Layer and role of a unit_kld name; false for any other name.
bool parse_unit_kld_metric(const std::string& name, int* layer, std::string* role);

struct CellProvenance {
  std::string command_line, commit, version, host;
  int rank = 0;                 // MPI rank (0 without MPI)
  std::string started, ended;   // UTC, ISO 8601
  double wall_s = 0;            // seconds of this cell (quantization, if this cell did it, included)
  int64_t peak_rss_bytes = 0;   // of the process that ran it, up to the end of the cell (getrusage)
};

struct CellRecord {
  std::string key, run_id, study, model, model_hash, recipe, recipe_json, quant_key;
  uint64_t seed = 0;
  std::string target, task;
  std::string status;  // "done" or "refused"
  std::string reason;  // refused: why
  std::vector<Metric> metrics;
  CellProvenance provenance;
  nlohmann::json to_json() const;
  static CellRecord from_json(const nlohmann::json& j);
};

struct RunRecord {
  std::string run_id, study, spec, command_line, commit, version, host, started, ended;
};

struct MergeReport {
  int64_t added = 0, identical = 0;
  std::vector<std::string> conflicts;  // one line per cell whose stored metrics differ (kept as they were)
};

class ResultsStore {
 public:
  // Opens (creating when `read_only` is false) the store and its tables. InputError naming the file.
  explicit ResultsStore(const std::string& path, bool read_only = false);
  ~ResultsStore();
  ResultsStore(const ResultsStore&) = delete;
  ResultsStore& operator=(const ResultsStore&) = delete;

  const std::string& path() const { return path_; }
  void put_run(const RunRecord& r);  // insert, or update `ended` of an existing run
  // One transaction. A key already present is an InternalError unless `replace` (then it is replaced).
  void put_cell(const CellRecord& c, bool replace);
  bool has_cell(const std::string& key);
  std::set<std::string> cell_keys();
  // Every cell with metrics and provenance, ordered by key.
  std::vector<CellRecord> cells();
  std::vector<RunRecord> runs();
  // Adds the other store's runs and cells; a cell present in both with different metrics is reported
  // and left as it is here. Merging the same store again adds nothing.
  MergeReport merge_from(const std::string& other_path);
  // SELECT over the `results` view with an optional SQL filter; rows of column -> value (as text).
  std::vector<std::vector<std::string>> query(const std::string& where, std::vector<std::string>* columns);

 private:
  void check_or_create_schema(bool read_only);
  void exec(const char* sql);
  void insert_cell(const CellRecord& c);
  std::string path_;
  sqlite3* db_ = nullptr;
};

// UTC now as "2026-12-05T11:32:01Z".
std::string utc_now();
// Peak resident set of this process so far, bytes.
int64_t peak_rss_bytes();

}  // namespace quantscope
