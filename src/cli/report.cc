// quantscope report S.db --out DIR: one self-contained HTML page with the study's charts, plus
// report.md, report.json and CSV files (src/report/report_writer.h).
#include <fmt/format.h>

#include "cli/command.h"
#include "report/report_data.h"
#include "report/report_writer.h"
#include "study/results_store.h"

namespace quantscope::cli {
namespace {

struct ReportCliOptions {
  std::string db, out = "report";
};

int run_report(const ReportCliOptions& o) {
  ResultsStore store(o.db, true);
  const nlohmann::json report = gather_report(store);
  for (const auto& path : write_report(report, o.out)) fmt::print("wrote {}\n", path);
  size_t significant = 0;
  for (const auto& d : report["differences"]) significant += d["significant"].get<bool>();
  fmt::print("{} cells, {} quantized models on targets, {} Pareto fronts, {} sensitivity units, {} of {} target "
             "differences significant, {} refusals\n",
             report["cells"].size(), report["configs"].size(), report["pareto"].size(), report["sensitivity"].size(),
             significant, report["differences"].size(), report["refused"].size());
  return 0;
}

const CommandRegistration reg{{"report", "write the HTML report (charts inlined), report.md, JSON and CSV of a results store",
                               [](CLI::App& sub) {
                                 auto o = std::make_shared<ReportCliOptions>();
                                 sub.add_option("db", o->db, "results store (quantscope study run --db)")
                                     ->required()
                                     ->check(CLI::ExistingFile);
                                 sub.add_option("--out", o->out, "directory to write (created; files replaced)");
                                 return [o] { return run_report(*o); };
                               }}};

}  // namespace
}  // namespace quantscope::cli
