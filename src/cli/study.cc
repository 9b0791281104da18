// quantscope study plan S.json [--db S.db]               the cells, refusals with reasons, cost estimates
// quantscope study run S.json --db S.db [--force] [--shard i/N] [--cache DIR] [-t N] [-q]
//   (under mpirun -n N: rank 0 hands out cells and writes the store; study/mpi_runner.h)
// quantscope study slurm S.json --db S.db --tasks N [--out DIR] [--cpus-per-task C] [--partition P] [--time T]
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "cli/command.h"
#include "core/error.h"
#include "core/file_io.h"
#include "study/mpi_runner.h"
#include "study/slurm_script.h"
#include "study/study_plan.h"
#include "study/study_runner.h"

namespace quantscope::cli {
namespace {
namespace fs = std::filesystem;

struct StudyCliOptions {
  std::string spec, db, cache, shard, out, partition, time_limit = "01:00:00";
  bool force = false, quiet = false;
  int threads = 0, tasks = 0, cpus_per_task = 1;
};

std::string command_line_of() {
  // /proc/self/cmdline: the exact words this process was started with (recorded in provenance).
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (char& c : raw)
    if (c == '\0') c = ' ';
  while (!raw.empty() && raw.back() == ' ') raw.pop_back();
  return raw;
}

void parse_shard(const std::string& s, int* shard, int* shards) {
  int i = 0, n = 0;
  char tail = 0;
  if (std::sscanf(s.c_str(), "%d/%d%c", &i, &n, &tail) != 2 || n < 1 || i < 0 || i >= n)
    fail_input("--shard {}: expected i/N with 0 <= i < N", s);
  *shard = i, *shards = n;
}

int run_plan(const StudyCliOptions& o) {
  const StudyPlan plan = make_study_plan(read_study_spec(o.spec));
  std::set<std::string> have;
  if (!o.db.empty() && fs::exists(o.db)) have = ResultsStore(o.db, true).cell_keys();
  fmt::print("{:<5} {:<28} {:<13} {:<8} {:>5} {:>9} {:>12}  {}\n", "cell", "recipe", "target", "task", "seed",
             "est. s", "target tok/s", "status");
  double total = 0;
  std::map<std::string, int> refusals;
  for (const auto& c : plan.cells) {
    std::string status = c.refused.empty() ? (have.count(c.key) ? "stored" : "to run") : c.refused;
    if (!c.refused.empty()) ++refusals[c.target_name];
    if (c.refused.empty() && !have.count(c.key)) total += c.est_seconds;
    fmt::print("{:<5} {:<28} {:<13} {:<8} {:>5} {:>9.3f} {:>12.0f}  {}\n", c.index, c.recipe_label, c.target_name,
               c.task_name, c.calibrated ? std::to_string(c.seed) : "-", c.est_seconds, c.cost.decode_tok_s, status);
  }
  fmt::print("{} cells: {} runnable, {} refused", plan.cells.size(), plan.runnable(), plan.cells.size() - plan.runnable());
  for (const auto& [t, n] : refusals) fmt::print(" ({} by {})", n, t);
  fmt::print("; {} already stored; estimated {:.1f} s on this host's roofline for the rest (a lower bound: "
             "memory/compute peaks, one process)\n", have.size(), total);
  return 0;
}

int run_run(const StudyCliOptions& o) {
  StudyRunOptions ro;
  ro.db = o.db;
  ro.cache_dir = o.cache;
  ro.force = o.force;
  ro.quiet = o.quiet;
  ro.command_line = command_line_of();
  if (!o.shard.empty()) parse_shard(o.shard, &ro.shard, &ro.shards);
  StudySpec spec = read_study_spec(o.spec);
  if (o.threads > 0) spec.threads = o.threads;
  const StudyPlan plan = make_study_plan(spec);
  const StudyRunSummary s =
      mpi_world_size_from_env() > 1 ? run_study_mpi(plan, ro) : run_study_serial(plan, ro);
  if (s.reporter)
    fmt::print("{}: {} cells computed, {} already stored, {} refused, {:.1f} s\n", o.db, s.computed, s.already_stored,
               s.refused, s.seconds);
  return 0;
}

int run_slurm(const StudyCliOptions& o) {
  const StudySpec spec = read_study_spec(o.spec);  // fail here, not on the cluster, on a bad study
  SlurmScriptOptions so;
  so.quantscope = fs::canonical("/proc/self/exe").string();
  so.spec = fs::absolute(o.spec).lexically_normal().string();
  so.db = fs::absolute(o.db).lexically_normal().string();
  so.cache_dir = fs::absolute(o.cache.empty() ? default_cache_dir(o.db) : o.cache).lexically_normal().string();
  so.tasks = o.tasks;
  so.cpus_per_task = o.cpus_per_task;
  so.partition = o.partition;
  so.time_limit = o.time_limit;
  const SlurmScripts s = make_slurm_scripts(so);
  const std::string dir = o.out.empty() ? so.db.substr(0, so.db.size() - (so.db.ends_with(".db") ? 3 : 0)) + ".slurm" : o.out;
  fs::create_directories(dir);
  write_file_atomic(dir + "/array.sbatch", s.array);
  write_file_atomic(dir + "/merge.sbatch", s.merge);
  write_file_atomic(dir + "/submit.sh", s.submit);
  fs::permissions(dir + "/submit.sh", fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
  fmt::print("wrote {0}/array.sbatch ({1} tasks of study {2}), {0}/merge.sbatch, {0}/submit.sh (run it to submit)\n",
             dir, o.tasks, spec.name);
  return 0;
}

CommandRegistration reg({"study", "plan, run and scale out a grid of models x recipes x targets x tasks",
                         [](CLI::App& app) {
                           auto o = std::make_shared<StudyCliOptions>();
                           app.require_subcommand(1);
                           auto* plan = app.add_subcommand("plan", "list the cells, refusals and cost estimates");
                           plan->add_option("spec", o->spec, "study JSON (studies/*.json)")->required();
                           plan->add_option("--db", o->db, "mark the cells this store already holds");
                           auto* run = app.add_subcommand("run", "run the cells a store lacks (resumable)");
                           run->add_option("spec", o->spec, "study JSON")->required();
                           run->add_option("--db", o->db, "results store (SQLite)")->required();
                           run->add_option("--cache", o->cache, "quantized-model cache (default: <db>.cache)");
                           run->add_flag("--force", o->force, "recompute and replace cells already stored");
                           run->add_option("--shard", o->shard, "run only shard i of N (i/N), e.g. 0/4");
                           run->add_option("-t,--threads", o->threads, "threads per process (default: the study's)")
                               ->check(CLI::NonNegativeNumber);
                           run->add_flag("-q,--quiet", o->quiet, "no per-cell progress lines");
                           auto* slurm = app.add_subcommand("slurm", "write a Slurm job array + merge job");
                           slurm->add_option("spec", o->spec, "study JSON")->required();
                           slurm->add_option("--db", o->db, "the merged results store")->required();
                           slurm->add_option("--tasks", o->tasks, "array tasks (shards)")->required()->check(CLI::PositiveNumber);
                           slurm->add_option("--cache", o->cache, "shared quantized-model cache (default: <db>.cache)");
                           slurm->add_option("--out", o->out, "directory for the scripts (default: <db>.slurm)");
                           slurm->add_option("--cpus-per-task", o->cpus_per_task, "CPUs (threads) per task")
                               ->check(CLI::PositiveNumber);
                           slurm->add_option("--partition", o->partition, "Slurm partition");
                           slurm->add_option("--time", o->time_limit, "time limit per task (default 01:00:00)");
                           return [o, plan, run, slurm]() -> int {
                             if (plan->parsed()) return run_plan(*o);
                             if (run->parsed()) return run_run(*o);
                             if (slurm->parsed()) return run_slurm(*o);
                             return 2;
                           };
                         }});

}  // namespace
}  // namespace quantscope::cli
