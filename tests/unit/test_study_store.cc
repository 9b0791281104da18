// The results store: round trip, no silent overwrite, --force replacement, idempotent merge with
// conflicts reported, and a process killed (SIGKILL) while writing leaves only whole cells.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <limits>
#include <cmath>
#include <random>
#include <thread>

#include "core/error.h"
#include "study/results_store.h"
#include "test_util.h"

namespace quantscope {
namespace {

CellRecord cell(const std::string& key, double ppl) {
  CellRecord c;
  c.key = key;
  c.run_id = "run-1";
  c.study = "s";
  c.model = "m.bin";
  c.model_hash = "abc";
  c.recipe = "rtn W4 g32";
  c.recipe_json = R"({"default":{"method":"rtn"}})";
  c.quant_key = "q" + key;
  c.seed = 3;
  c.target = "host";
  c.task = "ppl";
  c.status = "done";
  c.metrics = {{"ppl", ppl, 0.25, 1000, "full-window ctx 64"}, {"mean_nll", std::log(ppl), 0.01, 1000, "full-window ctx 64"}};
  c.provenance = {"quantscope study run", "abc123", "0.1.0", "host1", 1, "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z",
                  1.5, 123456};
  return c;
}

TEST(StudyStore, RoundTripAndNoSilentOverwrite) {
  test::TempDir tmp;
  const std::string db = tmp.file("r.db");
  {
    ResultsStore s(db);
    s.put_run({"run-1", "s", "s.json", "cmd", "abc", "0.1.0", "host1", "t0", ""});
    s.put_cell(cell("k1", 10.5), false);
    s.put_cell(cell("k2", 11.5), false);
    EXPECT_THROW(s.put_cell(cell("k1", 99.0), false), InternalError);  // never overwritten silently
  }
  ResultsStore s(db, true);
  const auto cells = s.cells();
  ASSERT_EQ(cells.size(), 2u);
  EXPECT_EQ(cells[0].key, "k1");
  auto want = cell("k1", 10.5).metrics;  // read back sorted by name: mean_nll, ppl
  std::swap(want[0], want[1]);
  EXPECT_EQ(cells[0].metrics, want);
  EXPECT_EQ(cells[0].provenance.peak_rss_bytes, 123456);
  EXPECT_EQ(cells[0].provenance.rank, 1);
  EXPECT_EQ(cells[0].seed, 3u);
  EXPECT_EQ(s.runs().size(), 1u);
  std::vector<std::string> cols;
  const auto rows = s.query("metric = 'ppl' AND value > 11", &cols);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][size_t(std::find(cols.begin(), cols.end(), "key") - cols.begin())], "k2");
  EXPECT_THROW(s.query("1; DROP TABLE cells", &cols), InputError);  // one statement only
}

// A store damaged on disk (a page overwritten) is bad input naming the file, never an internal error.
TEST(StudyStore, CorruptFileIsBadInput) {
  test::TempDir tmp;
  const std::string db = tmp.file("r.db");
  {
    ResultsStore s(db);
    for (int i = 0; i < 200; ++i) s.put_cell(cell("k" + std::to_string(i), 10.0 + i), false);
  }  // closing checkpoints the WAL into r.db
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0, std::ios::end);
    const auto size = static_cast<int64_t>(f.tellp());
    ASSERT_GT(size, 4 * 4096);  // several pages, so the header page stays readable
    f.seekp(2 * 4096);
    const std::string garbage(2 * 4096, '\xA5');
    f.write(garbage.data(), std::streamsize(garbage.size()));
  }
  try {
    ResultsStore s(db, true);
    s.cells();
    FAIL() << "a damaged store was read without an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("r.db"), std::string::npos) << e.what();
  }
}

// A non-finite metric (W4A4 overflowing) survives the store and the MPI message as itself: SQLite
// keeps a NaN as NULL, which must read back as NaN (not 0), and JSON has no NaN or infinity at all.
TEST(StudyStore, NonFiniteMetricsRoundTrip) {
  test::TempDir tmp;
  CellRecord c = cell("k1", 10.0);
  c.metrics[0].value = std::numeric_limits<double>::infinity();
  c.metrics[0].error = std::nan("");
  c.metrics[1].value = std::nan("");
  c.metrics[1].error = -std::numeric_limits<double>::infinity();
  c.reason = "non-finite ppl, mean_nll";
  {
    ResultsStore s(tmp.file("r.db"));
    s.put_cell(c, false);
  }
  const auto cells = ResultsStore(tmp.file("r.db"), true).cells();
  ASSERT_EQ(cells.size(), 1u);
  auto want = c.metrics;
  std::swap(want[0], want[1]);  // read back sorted by name
  EXPECT_EQ(cells[0].metrics, want);  // Metric::operator== takes NaN == NaN
  EXPECT_TRUE(std::isnan(cells[0].metrics[0].value));
  EXPECT_TRUE(std::isinf(cells[0].metrics[1].value));
  EXPECT_EQ(cells[0].reason, c.reason);
  const CellRecord back = CellRecord::from_json(nlohmann::json::parse(c.to_json().dump()));
  EXPECT_EQ(back.metrics, c.metrics);
  EXPECT_TRUE(std::isnan(back.metrics[1].value));
  EXPECT_EQ(back.metrics[1].error, -std::numeric_limits<double>::infinity());
}

TEST(StudyStore, ForceReplaces) {
  test::TempDir tmp;
  ResultsStore s(tmp.file("r.db"));
  s.put_cell(cell("k1", 10.5), false);
  s.put_cell(cell("k1", 12.0), true);
  const auto cells = s.cells();
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_EQ(cells[0].metrics[1].value, 12.0);
  EXPECT_EQ(cells[0].metrics.size(), 2u);  // the old rows are gone, not duplicated
}

TEST(StudyStore, MergeIsIdempotentAndReportsConflicts) {
  test::TempDir tmp;
  {
    ResultsStore a(tmp.file("a.db")), b(tmp.file("b.db"));
    a.put_run({"run-a", "s", "", "", "", "", "", "", ""});
    b.put_run({"run-b", "s", "", "", "", "", "", "", ""});
    a.put_cell(cell("k1", 10.0), false);
    a.put_cell(cell("k2", 11.0), false);
    b.put_cell(cell("k2", 11.0), false);  // the same result
    b.put_cell(cell("k3", 12.0), false);
    b.put_cell(cell("k1", 10.0 + 1e-9), false);  // a different value for k1
  }
  ResultsStore out(tmp.file("out.db"));
  MergeReport r = out.merge_from(tmp.file("a.db"));
  EXPECT_EQ(r.added, 2);
  r = out.merge_from(tmp.file("b.db"));
  EXPECT_EQ(r.added, 1);      // k3
  EXPECT_EQ(r.identical, 1);  // k2
  ASSERT_EQ(r.conflicts.size(), 1u);
  EXPECT_NE(r.conflicts[0].find("ppl"), std::string::npos) << r.conflicts[0];
  const auto before = out.cells();
  r = out.merge_from(tmp.file("a.db"));  // again: nothing changes
  EXPECT_EQ(r.added, 0);
  EXPECT_EQ(r.identical, 2);
  EXPECT_TRUE(r.conflicts.empty());
  const auto after = out.cells();
  ASSERT_EQ(after.size(), 3u);
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < after.size(); ++i) EXPECT_EQ(before[i].metrics, after[i].metrics);
  EXPECT_EQ(after[0].metrics[1].value, 10.0);  // the conflicting value did not replace ours
  EXPECT_EQ(out.runs().size(), 2u);
  EXPECT_THROW(out.merge_from(tmp.file("missing.db")), InputError);
}

// A child process writes cells as fast as it can and is SIGKILLed at a random moment, five times over
// the same store: every stored cell must have all of its metrics and its provenance.
TEST(StudyStore, SigkillLeavesOnlyWholeCells) {
  test::TempDir tmp;
  const std::string db = tmp.file("r.db");
  std::mt19937 rng(7);
  int64_t written_before = 0;
  for (int trial = 0; trial < 5; ++trial) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ResultsStore s(db);
      for (int i = 0;; ++i) s.put_cell(cell(std::to_string(trial) + "-" + std::to_string(i), 10.0 + i), false);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(60 + rng() % 120));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    ResultsStore s(db);
    const auto cells = s.cells();
    for (const auto& c : cells) {
      ASSERT_EQ(c.metrics.size(), 2u) << c.key;
      EXPECT_EQ(c.provenance.host, "host1") << c.key;
    }
    EXPECT_GT(int64_t(cells.size()), written_before);  // the child got some cells in before it died
    written_before = int64_t(cells.size());
  }
}

}  // namespace
}  // namespace quantscope
