// quantscope results query S.db [--where SQL] [--format table|csv|json]
// quantscope results merge OUT.db IN.db...     (idempotent; conflicting cells reported, exit 1)
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "cli/command.h"
#include "core/csv.h"
#include "core/error.h"
#include "study/results_store.h"

namespace quantscope::cli {
namespace {

struct ResultsCliOptions {
  std::string db, where, format = "table";
  std::vector<std::string> inputs;
};

// Numbers stay numbers in JSON (SQLite hands every column back as text).
nlohmann::json json_value(const std::string& column, const std::string& v) {
  if (v.empty()) return nullptr;
  if (column == "value" || column == "error") return std::stod(v);
  if (column == "count" || column == "seed") return std::stoll(v);
  return v;
}

int run_query(const ResultsCliOptions& o) {
  if (o.format != "table" && o.format != "csv" && o.format != "json")
    fail_input("--format {}: expected table, csv or json", o.format);
  ResultsStore store(o.db, true);
  std::vector<std::string> cols;
  const auto rows = store.query(o.where, &cols);
  if (o.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json j;
      for (size_t i = 0; i < cols.size(); ++i) j[cols[i]] = json_value(cols[i], r[i]);
      out.push_back(j);
    }
    fmt::print("{}\n", out.dump(2));
  } else if (o.format == "csv") {
    for (size_t i = 0; i < cols.size(); ++i) fmt::print("{}{}", i ? "," : "", cols[i]);
    fmt::print("\n");
    for (const auto& r : rows) {
      for (size_t i = 0; i < r.size(); ++i) fmt::print("{}{}", i ? "," : "", csv_field(r[i]));
      fmt::print("\n");
    }
  } else {
    // The table leaves out the study, key and long reasons' tails so a row fits a terminal.
    const std::vector<std::string> show = {"recipe", "seed", "target", "task", "status", "metric", "value", "error",
                                           "count", "protocol", "reason"};
    std::vector<size_t> idx;
    for (const auto& c : show) idx.push_back(size_t(std::find(cols.begin(), cols.end(), c) - cols.begin()));
    auto cell = [&](const std::vector<std::string>& r, size_t k) {
      std::string v = r[idx[k]];
      if (show[k] == "value" || show[k] == "error") v = v.empty() ? "" : fmt::format("{:.6g}", std::stod(v));
      if (v.size() > 60) v = v.substr(0, 57) + "...";
      return v;
    };
    std::vector<size_t> width(show.size());
    for (size_t k = 0; k < show.size(); ++k) width[k] = show[k].size();
    for (const auto& r : rows)
      for (size_t k = 0; k < show.size(); ++k) width[k] = std::max(width[k], cell(r, k).size());
    for (size_t k = 0; k < show.size(); ++k) fmt::print("{:<{}} ", show[k], width[k]);
    fmt::print("\n");
    for (const auto& r : rows) {
      for (size_t k = 0; k < show.size(); ++k) fmt::print("{:<{}} ", cell(r, k), width[k]);
      fmt::print("\n");
    }
    fmt::print("{} rows\n", rows.size());
  }
  return 0;
}

int run_merge(const ResultsCliOptions& o) {
  ResultsStore out(o.db);
  int64_t conflicts = 0;
  for (const auto& in : o.inputs) {
    const MergeReport r = out.merge_from(in);
    fmt::print("{}: {} cells added, {} identical, {} conflicting\n", in, r.added, r.identical, r.conflicts.size());
    for (const auto& c : r.conflicts) fmt::print(stderr, "conflict: {}: {} (kept the value in {})\n", in, c, o.db);
    conflicts += int64_t(r.conflicts.size());
  }
  return conflicts > 0 ? 3 : 0;  // 3: merged, but some cells disagree (listed on stderr)
}

CommandRegistration reg({"results", "query and merge study results stores", [](CLI::App& app) {
                           auto o = std::make_shared<ResultsCliOptions>();
                           app.require_subcommand(1);
                           auto* query = app.add_subcommand("query", "print results (one row per cell and metric)");
                           query->add_option("db", o->db, "results store")->required();
                           query->add_option("--where", o->where,
                                             "SQL filter over columns study, model, recipe, seed, target, task, status, "
                                             "metric, value, error, count, protocol, reason, key");
                           query->add_option("--format", o->format, "table (default), csv or json");
                           auto* merge = app.add_subcommand("merge", "add other stores' cells to OUT (idempotent)");
                           merge->add_option("out", o->db, "the store to merge into (created if missing)")->required();
                           merge->add_option("inputs", o->inputs, "stores to merge from")->required();
                           return [o, query, merge]() -> int {
                             if (query->parsed()) return run_query(*o);
                             if (merge->parsed()) return run_merge(*o);
                             return 2;
                           };
                         }});

}  // namespace
}  // namespace quantscope::cli
