#include "study/study_runner.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "core/build_info.h"
#include "core/parallel.h"
#include "study/cell_runner.h"

namespace quantscope {

std::string default_cache_dir(const std::string& db) {
  std::string base = db;
  if (base.size() > 3 && base.compare(base.size() - 3, 3, ".db") == 0) base.resize(base.size() - 3);
  return base + ".cache";
}

std::string new_run_id() {
  char host[128] = {0};
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  return fmt::format("{}-{}-{}-{:08x}", host, getpid(),
                     std::chrono::system_clock::now().time_since_epoch().count(), rd());
}

RunRecord make_run_record(const StudyPlan& plan, const StudyRunOptions& o, const std::string& run_id) {
  char host[128] = {0};
  gethostname(host, sizeof host - 1);
  return {run_id, plan.spec.name, plan.spec.path, o.command_line, build_commit(), build_version(), host,
          utc_now(), ""};
}

std::vector<size_t> cells_to_run(const StudyPlan& plan, const std::vector<size_t>& candidates, bool force,
                                 const std::set<std::string>& have) {
  std::vector<size_t> out;
  for (size_t i : candidates)
    if (force || !have.count(plan.cells[i].key)) out.push_back(i);
  return out;
}

namespace {
std::string minutes(double s) {
  const int64_t t = int64_t(s + 0.5);
  return fmt::format("{}:{:02d}", t / 60, t % 60);
}
}  // namespace

std::string cell_progress_line(int64_t done, int64_t total, const CellRecord& r, double elapsed_s) {
  std::string what;
  if (r.status == "refused") {
    what = r.reason;
  } else if (!r.metrics.empty()) {
    // A sensitivity cell holds one metric per tensor: show the tensor that hurts most.
    const bool units = is_unit_kld_metric(r.metrics.front().name);
    const Metric& m = units ? *std::max_element(r.metrics.begin(), r.metrics.end(),
                                                [](const Metric& a, const Metric& b) { return a.value < b.value; })
                            : r.metrics.front();
    if (units) what = fmt::format("{} tensors, most sensitive: ", r.metrics.size());
    what += fmt::format("{} {:.6g} +/- {:.3g} ({:.2f} s)", m.name, m.value, m.error, r.provenance.wall_s);
    if (!r.reason.empty()) what += " — " + r.reason;  // non-finite: which metric and where
  }
  const double left = done > 0 ? elapsed_s / double(done) * double(total - done) : 0;
  return fmt::format("[{}/{} {} ~{} left] {} | {} | {}: {}", done, total, minutes(elapsed_s), minutes(left), r.recipe,
                     r.target, r.task, what);
}

StudyRunSummary run_study_serial(const StudyPlan& plan, const StudyRunOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (plan.spec.threads > 0) set_num_threads(plan.spec.threads);
  ResultsStore store(o.db);
  const std::string run_id = new_run_id();
  RunRecord run = make_run_record(plan, o, run_id);
  store.put_run(run);

  std::vector<size_t> mine;
  if (o.shards > 1) {
    mine = shard_cells(plan, o.shard, o.shards);
  } else {
    for (const auto& c : plan.cells)
      if (c.refused.empty()) mine.push_back(c.index);
  }
  StudyRunSummary s;
  const std::set<std::string> have = store.cell_keys();
  CellRunner runner(plan, {o.cache_dir.empty() ? default_cache_dir(o.db) : o.cache_dir, run_id, o.command_line, 0});
  if (o.shard == 0) {
    for (const auto& c : plan.cells) {
      if (c.refused.empty()) continue;
      if (have.count(c.key) && !o.force) continue;
      store.put_cell(runner.refused_record(c, c.refused), o.force);
      ++s.refused;
    }
  }
  const std::vector<size_t> todo = cells_to_run(plan, mine, o.force, have);
  s.already_stored = int64_t(mine.size() - todo.size());
  if (!o.quiet)
    fmt::print(stderr, "study {}: {} cells ({} refused), {} in this run{}, {} already stored\n", plan.spec.name,
               plan.cells.size(), plan.cells.size() - plan.runnable(), todo.size(),
               o.shards > 1 ? fmt::format(" (shard {}/{})", o.shard, o.shards) : "", s.already_stored);
  int64_t n = 0;
  for (size_t i : todo) {
    const CellRecord r = runner.run(plan.cells[i]);
    store.put_cell(r, o.force);
    if (r.status == "refused") ++s.refused;
    else ++s.computed;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!o.quiet) fmt::print(stderr, "{}\n", cell_progress_line(++n, int64_t(todo.size()), r, elapsed));
  }
  run.ended = utc_now();
  store.put_run(run);
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace quantscope
