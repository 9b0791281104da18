// studies/tiny.json through the built binary: a full run, a resumed run that does nothing, two shards
// merged, a run SIGKILLed midway and resumed, and `mpirun -n 2`: every one of them must leave a store
// equal, cell for cell and bit for bit in every metric, to the uninterrupted single-process run.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "interop_fixtures.h"
#include "model/synth.h"
#include "quant/quantized_model.h"
#include "study/results_store.h"
#include "study/study_plan.h"
#include "test_util.h"

extern char** environ;

namespace quantscope {
namespace {

struct Stored {
  std::string status, reason;
  std::vector<Metric> metrics;
  int rank = 0;
};

std::map<std::string, Stored> stored(const std::string& db) {
  std::map<std::string, Stored> out;
  for (auto& c : ResultsStore(db, true).cells()) out[c.key] = {c.status, c.reason, c.metrics, c.provenance.rank};
  return out;
}

// Equal cell for cell: same keys, status, reason and every metric (value, error, count, protocol).
void expect_same_store(const std::string& got_db, const std::string& want_db) {
  const auto got = stored(got_db), want = stored(want_db);
  ASSERT_EQ(got.size(), want.size()) << got_db;
  for (const auto& [key, w] : want) {
    auto it = got.find(key);
    ASSERT_NE(it, got.end()) << "missing cell " << key;
    EXPECT_EQ(it->second.status, w.status) << key;
    EXPECT_EQ(it->second.reason, w.reason) << key;
    EXPECT_EQ(it->second.metrics, w.metrics) << key;
  }
}

std::string tiny() { return test::source_path("studies/tiny.json"); }

class StudyRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new test::TempDir;
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = test::run_cli("study run " + tiny() + " --db " + ref_db() + " --cache " + cache() + " -q");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ref_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  static void TearDownTestSuite() {
    delete tmp_;
    tmp_ = nullptr;
  }
  static std::string ref_db() { return tmp_->file("ref.db"); }
  static std::string cache() { return tmp_->file("cache"); }
  static inline test::TempDir* tmp_ = nullptr;
  static inline double ref_seconds_ = 0;
};

TEST_F(StudyRun, EveryCellStoredWithMetricsAndProvenance) {
  const StudyPlan plan = make_study_plan(read_study_spec(tiny()));
  const auto cells = ResultsStore(ref_db(), true).cells();
  ASSERT_EQ(cells.size(), plan.cells.size());
  int done = 0;
  for (const auto& c : cells) {
    if (c.status == "refused") {
      EXPECT_FALSE(c.reason.empty()) << c.key;
      continue;
    }
    ++done;
    ASSERT_FALSE(c.metrics.empty()) << c.key;
    EXPECT_GT(c.provenance.wall_s, 0) << c.key;
    EXPECT_GT(c.provenance.peak_rss_bytes, 0) << c.key;
    EXPECT_FALSE(c.provenance.command_line.empty());
    for (const auto& m : c.metrics) {
      EXPECT_TRUE(std::isfinite(m.value)) << c.key << " " << m.name;
      // Measured metrics say over how many tokens or items; the roofline costs were not measured (0).
      const bool cost = m.name == "bits" || m.name == "weight_bytes" || m.name.rfind("proj_", 0) == 0;
      EXPECT_EQ(m.count > 0, !cost) << c.key << " " << m.name;
      EXPECT_FALSE(m.protocol.empty());
      if (m.name == "ppl") {
        EXPECT_GT(m.value, 1.0);
      }
      if (m.name == "acc") {
        EXPECT_TRUE(m.value >= 0 && m.value <= 1);
      }
      // The unquantized model on the host against its own reference: only the reference's fp16 rounding.
      if (m.name == "kld" && c.recipe == "fp (unquantized)" && c.target == "host") {
        EXPECT_LT(m.value, 1e-4);
      }
      if (m.name == "kld" && c.recipe != "fp (unquantized)") {
        EXPECT_GT(m.value, 1e-4);
      }
    }
  }
  EXPECT_EQ(size_t(done), plan.runnable());
  EXPECT_GE(done, 12);
  // The quantized models are cached by key: one directory per recipe (RTN and GPTQ W4).
  int dirs = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache() + "/quantized")) dirs += e.is_directory();
  EXPECT_EQ(dirs, 2);
}

TEST_F(StudyRun, RerunDoesNothingAndQueryFormats) {
  const auto r = test::run_cli("study run " + tiny() + " --db " + ref_db() + " --cache " + cache() + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(": 0 cells computed"), std::string::npos) << r.out;
  const auto plan = test::run_cli("study plan " + tiny() + " --db " + ref_db());
  ASSERT_EQ(plan.exit_code, 0) << plan.err;
  EXPECT_EQ(plan.out.find("to run"), std::string::npos) << plan.out;
  const auto j = test::run_cli("results query " + ref_db() + " --where \"metric = 'ppl'\" --format json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  const auto rows = nlohmann::json::parse(j.out);
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) {
    EXPECT_EQ(row["metric"], "ppl");
    EXPECT_TRUE(row["value"].is_number());
  }
  const auto csv = test::run_cli("results query " + ref_db() + " --format csv");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("study,model,recipe,seed,target,task,status,metric,value", 0), 0u) << csv.out;
  const auto bad = test::run_cli("results query " + ref_db() + " --where \"nosuchcolumn = 1\"");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("nosuchcolumn"), std::string::npos) << bad.err;
}

TEST_F(StudyRun, TwoShardsMergedEqualOneRun) {
  test::TempDir t;
  for (int i = 0; i < 2; ++i) {
    const auto r = test::run_cli("study run " + tiny() + " --db " + t.file("s" + std::to_string(i) + ".db") +
                                 " --cache " + cache() + " --shard " + std::to_string(i) + "/2 -q");
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Disjoint halves: neither shard holds every runnable cell.
  EXPECT_LT(stored(t.file("s0.db")).size(), stored(ref_db()).size());
  EXPECT_LT(stored(t.file("s1.db")).size(), stored(ref_db()).size());
  const auto m = test::run_cli("results merge " + t.file("all.db") + " " + t.file("s0.db") + " " + t.file("s1.db"));
  ASSERT_EQ(m.exit_code, 0) << m.err;
  expect_same_store(t.file("all.db"), ref_db());
  const auto again = test::run_cli("results merge " + t.file("all.db") + " " + t.file("s0.db"));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find(" 0 cells added"), std::string::npos) << again.out;
  expect_same_store(t.file("all.db"), ref_db());
}

// Starts the CLI without a shell so the pid is the study's own process.
pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {QUANTSCOPE_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> p;
  for (auto& a : argv) p.push_back(a.data());
  p.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  posix_spawn(&pid, p[0], &fa, nullptr, p.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

TEST_F(StudyRun, SigkillMidwayThenResumeEqualsUninterrupted) {
  test::TempDir t;  // its own cache: the kill may land inside a quantization too
  const std::string db = t.file("k.db");
  const pid_t pid = spawn_cli({"study", "run", tiny(), "--db", db, "--cache", t.file("cache")}, t.file("log"));
  ASSERT_GT(pid, 0);
  // Partway through (the reference run took ref_seconds_ including start-up).
  std::this_thread::sleep_for(std::chrono::duration<double>(0.5 * ref_seconds_));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  size_t done_before = 0;
  if (std::filesystem::exists(db))
    for (const auto& [k, c] : stored(db)) done_before += c.status == "done";
  const auto r = test::run_cli("study run " + tiny() + " --db " + db + " --cache " + t.file("cache") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_store(db, ref_db());
  // Nothing done twice: the resumed run computed exactly what the killed one had not stored.
  std::istringstream out(r.out.substr(r.out.find(": ") + 2));
  int64_t computed = -1;
  out >> computed;
  const size_t runnable = make_study_plan(read_study_spec(tiny())).runnable();
  EXPECT_TRUE(WIFSIGNALED(status)) << "the run finished before the kill";
  EXPECT_LT(done_before, runnable);
  EXPECT_EQ(size_t(computed) + done_before, runnable);
}

TEST_F(StudyRun, MpirunTwoRanksEqualsOneProcess) {
  if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not installed (openmpi-bin)";
  test::TempDir t;
  const std::string cmd = "OMP_NUM_THREADS=1 mpirun --allow-run-as-root --oversubscribe -n 2 " +
                          std::string(QUANTSCOPE_CLI) + " study run " + tiny() + " --db " + t.file("mpi.db") +
                          " --cache " + t.file("cache") + " -q > " + t.file("log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream log(t.file("log"));
  std::stringstream ss;
  ss << log.rdbuf();
  ASSERT_EQ(rc, 0) << ss.str();
  expect_same_store(t.file("mpi.db"), ref_db());
  std::set<int> ranks;
  for (const auto& [k, c] : stored(t.file("mpi.db")))
    if (c.status == "done") ranks.insert(c.rank);
  EXPECT_EQ(ranks, (std::set<int>{0, 1})) << "both ranks ran cells";
}

TEST(StudySlurm, ArrayAndMergeScripts) {
  test::TempDir t;
  const auto r = test::run_cli("study slurm " + tiny() + " --db " + t.file("s.db") + " --tasks 3 --out " +
                               t.file("slurm") + " --cpus-per-task 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto slurp = [](const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  const std::string array = slurp(t.file("slurm/array.sbatch")), merge = slurp(t.file("slurm/merge.sbatch")),
                    submit = slurp(t.file("slurm/submit.sh"));
  EXPECT_NE(array.find("#SBATCH --array=0-2\n"), std::string::npos) << array;
  EXPECT_NE(array.find("#SBATCH --cpus-per-task=2\n"), std::string::npos) << array;
  EXPECT_NE(array.find("--shard \"${SLURM_ARRAY_TASK_ID}/3\""), std::string::npos) << array;
  EXPECT_NE(array.find(t.file("s") + ".shard${SLURM_ARRAY_TASK_ID}.db"), std::string::npos) << array;
  EXPECT_NE(array.find("study run '" + tiny() + "'"), std::string::npos) << array;
  EXPECT_NE(array.find("--cache '" + t.file("s.cache") + "'"), std::string::npos) << array;
  for (int i = 0; i < 3; ++i)
    EXPECT_NE(merge.find("'" + t.file("s.shard" + std::to_string(i) + ".db") + "'"), std::string::npos) << merge;
  EXPECT_NE(merge.find("results merge '" + t.file("s.db") + "'"), std::string::npos) << merge;
  EXPECT_NE(submit.find("--dependency=afterok:"), std::string::npos) << submit;
  EXPECT_EQ(test::run_cli("study slurm " + tiny() + " --db x.db --tasks 0").exit_code, 2);
}

// A cell whose metric is not finite says why: the fp16 target overflows on the outlier model (layer 0
// SwiGLU, as TargetRun.Fp16OverflowsWhereBf16DoesNot finds directly), and the cell's reason names the
// metrics and that first overflow; the bf16 target's cell of the same model has no such note.
TEST(StudyNonFinite, OverflowNamedInTheCell) {
  test::TempDir dir;
  const SynthOptions so = test::outlier_pangu();
  write_synthetic_checkpoint(so, dir.file("model"));
  const nlohmann::json spec = {
      {"name", "nonfinite"},
      {"models", {dir.file("model")}},
      {"tokenizer", test::source_path("data/tok512.bin")},
      {"seeds", {0}},
      {"baseline", true},
      {"recipes", {{"grid", nlohmann::json::array()}}},
      {"targets", {"ascend-310p", "ascend-910b1"}},
      {"tasks", {{{"kind", "ppl"}, {"text", test::source_path("data/tinystories-valid.txt")}, {"ctx", 64}, {"windows", 2}}}},
      {"threads", 1}};
  std::ofstream(dir.file("s.json")) << spec.dump();
  const auto r = test::run_cli("study run " + dir.file("s.json") + " --db " + dir.file("s.db") + " -q");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int checked = 0;
  for (const auto& c : ResultsStore(dir.file("s.db"), true).cells()) {
    ASSERT_EQ(c.status, "done");
    const Metric* ppl = nullptr;
    for (const auto& m : c.metrics)
      if (m.name == "ppl") ppl = &m;
    ASSERT_NE(ppl, nullptr);
    if (c.target == "ascend-310p") {
      EXPECT_FALSE(std::isfinite(ppl->value));
      EXPECT_NE(c.reason.find("non-finite ppl"), std::string::npos) << c.reason;
      EXPECT_NE(c.reason.find("first activation overflow to inf at layer 0 swiglu"), std::string::npos) << c.reason;
    } else {
      EXPECT_TRUE(std::isfinite(ppl->value));
      EXPECT_EQ(c.reason, "");
    }
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

// A sensitivity task stores one KLD per decoder linear (layer x role), and every measured cell its size
// and roofline speed on its target beside its metrics.
TEST(StudySensitivity, UnitsAndCostsStored) {
  test::TempDir dir;
  const std::string data = test::source_path("data");
  const std::string spec = dir.file("s.json");
  std::ofstream(spec) << R"({"name": "sens", "models": [")" << data << R"(/stories260K.bin"], "tokenizer": ")" << data
                      << R"(/tok512.bin", "recipes": {"grid": [{"methods": ["rtn"], "bits": ["W4"], "granularity": ["group"],
      "group_size": 32}]}, "targets": ["host", "ascend-910b1"],
      "tasks": [{"kind": "kld", "text": ")" << data << R"(/tinystories-valid.txt", "ctx": 64, "windows": 2},
                {"kind": "sensitivity", "text": ")" << data << R"(/tinystories-valid.txt", "ctx": 64, "windows": 2}],
      "threads": 1})";
  const auto run = test::run_cli("study run " + spec + " --db " + dir.file("s.db") + " --cache " + dir.file("cache"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto model = load_any_model(data + "/stories260K.bin");
  int sens_cells = 0;
  for (const auto& c : ResultsStore(dir.file("s.db"), true).cells()) {
    ASSERT_EQ(c.status, "done") << c.reason;
    std::map<std::string, double> m;
    for (const auto& x : c.metrics) m[x.name] = x.value;
    if (c.task == "sensitivity") {
      ++sens_cells;
      ASSERT_EQ(c.metrics.size(), size_t(model->config.num_layers) * 7u);
      std::set<std::string> roles;
      for (const auto& x : c.metrics) {
        roles.insert(x.name.substr(x.name.rfind('/') + 1));
        EXPECT_TRUE(std::isfinite(x.value) && x.value > 0) << x.name << " " << x.value;
        EXPECT_GT(x.error, 0) << x.name;
        EXPECT_NE(x.protocol.find("quantized"), std::string::npos) << x.protocol;
      }
      EXPECT_EQ(roles, (std::set<std::string>{"attn_q", "attn_k", "attn_v", "attn_o", "mlp_gate", "mlp_up", "mlp_down"}));
      EXPECT_EQ(m.count("unit_kld/0/attn_q"), 1u);
      continue;
    }
    ASSERT_EQ(m.count("bits"), 1u) << c.recipe;
    ASSERT_EQ(m.count("weight_bytes"), 1u);
    EXPECT_GT(m["proj_decode_tok_s"], 0);
    EXPECT_GT(m["proj_prefill_tok_s"], m["proj_decode_tok_s"]);
    if (c.recipe_json.find("none") != std::string::npos) {
      EXPECT_DOUBLE_EQ(m["bits"], 32.0);  // the fp32 checkpoint
      if (c.target == "host") {  // the host keeps fp32: 4 bytes for every parameter
        EXPECT_DOUBLE_EQ(m["weight_bytes"], 4.0 * double(model->parameter_count()));
      }
    } else {
      EXPECT_GT(m["bits"], 4.0);  // 4-bit codes plus the group scales
      EXPECT_LT(m["bits"], 8.0);
    }
  }
  EXPECT_EQ(sens_cells, 2);  // rtn W4 g32 on both targets; none for the baseline
}

}  // namespace
}  // namespace quantscope
