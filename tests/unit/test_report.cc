// The report layer: its statistics by hand, the gathered document from a store built cell by cell, the
// HTML page's inlining, and the files written. The page in a real browser: tests/browser/.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "report/report_data.h"
#include "report/report_html.h"
#include "report/report_stats.h"
#include "report/report_writer.h"
#include "study/results_store.h"
#include "test_util.h"

namespace quantscope {
namespace {

TEST(ReportStats, ParetoFrontByHand) {
  // (cost, quality): B beats A on quality at more cost; C ties B's cost but is worse; D ties B's quality
  // at more cost (dominated); E is best and dearest; F has no cost.
  const std::vector<CostQuality> pts = {{1, 5}, {2, 3}, {2, 4}, {3, 3}, {4, 1}, {NAN, 0}};
  EXPECT_EQ(pareto_front(pts), (std::vector<size_t>{0, 1, 4}));
  EXPECT_TRUE(pareto_front({}).empty());
}

TEST(ReportStats, HolmByHand) {
  // Sorted: 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06), 0.04 (x1 = 0.04, raised to 0.06).
  const std::vector<double> adj = holm_adjust({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(adj.size(), 4u);
  EXPECT_NEAR(adj[0], 0.03, 1e-15);
  EXPECT_NEAR(adj[1], 0.06, 1e-15);
  EXPECT_NEAR(adj[2], 0.06, 1e-15);
  EXPECT_NEAR(adj[3], 0.02, 1e-15);
  EXPECT_EQ(holm_adjust({0.9, 0.8}), (std::vector<double>{1.0, 1.0}));  // capped at 1
}

TEST(ReportStats, TwoSidedP) {
  EXPECT_DOUBLE_EQ(two_sided_p(0), 1.0);
  EXPECT_NEAR(two_sided_p(1.959963984540054), 0.05, 1e-12);
  EXPECT_NEAR(two_sided_p(-1.959963984540054), 0.05, 1e-12);
}

CellRecord make_cell(const std::string& key, const std::string& recipe, const std::string& recipe_json,
                     const std::string& target, const std::string& task, std::vector<Metric> metrics) {
  CellRecord c;
  c.key = key, c.run_id = "run-1", c.study = "handmade", c.model = "m.bin", c.recipe = recipe;
  c.recipe_json = recipe_json, c.target = target, c.task = task, c.status = "done";
  c.metrics = std::move(metrics);
  c.provenance.commit = "abc123", c.provenance.host = "testhost", c.provenance.started = "2026-12-05T00:00:00Z";
  return c;
}

const char* kFp = R"({"default":{"method":"none"}})";
const char* kRtn4 = R"({"default":{"granularity":"group","group_size":32,"method":"rtn","w_bits":4}})";
const char* kRtn2 = R"({"default":{"granularity":"group","group_size":32,"method":"rtn","w_bits":2}})";

// Two targets: the unquantized model, RTN W4 and W2 (W2 refused on "npu"); ppl and kld tasks; one
// sensitivity cell; one non-finite perplexity.
void fill_store(const std::string& db) {
  ResultsStore s(db);
  s.put_run({"run-1", "handmade", "{}", "quantscope study run", "abc123", "0.1.0", "testhost", "t0", "t1"});
  auto cost = [](double bits, double bytes) {
    return std::vector<Metric>{{"bits", bits, 0, 0, ""}, {"weight_bytes", bytes, 0, 0, ""},
                               {"proj_decode_tok_s", 1e9 / bytes, 0, 0, ""}};
  };
  auto with = [](std::vector<Metric> a, const std::vector<Metric>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  s.put_cell(make_cell("k01", "fp (unquantized)", kFp, "host", "kld", with({{"kld", 0, 0, 100, "p"}}, cost(32, 1000))), false);
  s.put_cell(make_cell("k02", "fp (unquantized)", kFp, "npu", "kld", with({{"kld", 0.001, 0.0001, 100, "p"}}, cost(32, 500))), false);
  s.put_cell(make_cell("k03", "rtn W4 g32", kRtn4, "host", "kld", with({{"kld", 0.10, 0.01, 100, "p"}}, cost(5, 200))), false);
  s.put_cell(make_cell("k04", "rtn W4 g32", kRtn4, "npu", "kld", with({{"kld", 0.13, 0.01, 100, "p"}}, cost(5, 200))), false);
  s.put_cell(make_cell("k05", "rtn W2 g32", kRtn2, "host", "kld", with({{"kld", 0.90, 0.05, 100, "p"}}, cost(3, 150))), false);
  s.put_cell(make_cell("k06", "rtn W4 g32", kRtn4, "host", "ppl", {{"ppl", 7.0, 0.5, 100, "p"}}), false);
  s.put_cell(make_cell("k07", "rtn W4 g32", kRtn4, "npu", "ppl", {{"ppl", NAN, NAN, 100, "p"}}), false);
  CellRecord refused = make_cell("k08", "rtn W2 g32", kRtn2, "npu", "kld", {});
  refused.status = "refused";
  refused.reason = "refused by npu: 2-bit weights";
  s.put_cell(refused, false);
  s.put_cell(make_cell("k09", "rtn W4 g32", kRtn4, "host", "sens",
                       {{"unit_kld/0/attn_q", 0.002, 0.0005, 100, "p"}, {"unit_kld/1/mlp_down", 0.01, 0.001, 100, "p"}}),
             false);
}

TEST(ReportData, GatheredFromAStoreByHand) {
  test::TempDir dir;
  const std::string db = dir.file("s.db");
  fill_store(db);
  ResultsStore store(db, true);
  const nlohmann::json r = gather_report(store);
  EXPECT_EQ(r["study"], "handmade");
  EXPECT_EQ(r["cells"].size(), 9u);

  // Configs: fp first, then rtn by bits descending; each with its costs and its quality per task.
  const auto& configs = r["configs"];
  ASSERT_EQ(configs.size(), 5u);  // fp x2, W4 x2, W2 on host (W2 on npu was refused)
  EXPECT_EQ(configs[0]["method"], "fp");
  EXPECT_EQ(configs[1]["method"], "fp");
  EXPECT_EQ(configs[2]["w_bits"], 4);
  EXPECT_EQ(configs[4]["recipe"], "rtn W2 g32");
  for (const auto& c : configs)
    if (c["recipe"] == "rtn W4 g32" && c["target"] == "npu") {
      EXPECT_EQ(c["quality"]["ppl/ppl"]["value"], "nan");  // kept, as a word
      EXPECT_DOUBLE_EQ(c["quality"]["kld/kld"]["value"].get<double>(), 0.13);
      EXPECT_DOUBLE_EQ(c["weight_bytes"].get<double>(), 200);
      EXPECT_DOUBLE_EQ(c["bits"].get<double>(), 5);
    }

  // Pareto on host: fp (1000 B, 0), W4 (200 B, 0.10), W2 (150 B, 0.90): all three on the front, by cost.
  for (const auto& p : r["pareto"])
    if (p["target"] == "host") {
      std::vector<std::string> front;
      for (const auto& i : p["front"]) front.push_back(configs[i.get<size_t>()]["recipe"]);
      EXPECT_EQ(front, (std::vector<std::string>{"rtn W2 g32", "rtn W4 g32", "fp (unquantized)"}));
    }

  // Differences: kld fp (0 +/- 0 vs 0.001 +/- 0.0001: z = 10) and kld W4 (0.03 / sqrt(2e-4) = 2.1213);
  // the NaN perplexity has nothing to test. Holm over the two: the smaller p doubled, the larger kept.
  ASSERT_EQ(r["differences"].size(), 2u);
  for (const auto& d : r["differences"]) {
    if (d["recipe"] == "rtn W4 g32") {
      EXPECT_NEAR(d["z"].get<double>(), 0.03 / std::sqrt(2e-4), 1e-12);
      EXPECT_NEAR(d["p"].get<double>(), std::erfc(1.5), 1e-9);  // z / sqrt(2) = 1.5
      EXPECT_NEAR(d["p_holm"].get<double>(), std::erfc(1.5), 1e-9);  // the larger p of two: x1
      EXPECT_TRUE(d["significant"].get<bool>());
    } else {
      EXPECT_NEAR(d["z"].get<double>(), 10, 1e-9);
      EXPECT_NEAR(d["p_holm"].get<double>(), 2 * std::erfc(10 / std::sqrt(2.0)), 1e-20);
    }
  }

  ASSERT_EQ(r["sensitivity"].size(), 2u);
  EXPECT_EQ(r["sensitivity"][0]["layer"], 0);
  EXPECT_EQ(r["sensitivity"][0]["role"], "attn_q");
  EXPECT_TRUE(r["sensitivity"][0]["attention"].get<bool>());
  EXPECT_EQ(r["sensitivity"][1]["role"], "mlp_down");
  EXPECT_FALSE(r["sensitivity"][1]["attention"].get<bool>());

  ASSERT_EQ(r["refused"].size(), 1u);
  EXPECT_EQ(r["refused"][0]["reason"], "refused by npu: 2-bit weights");
  EXPECT_EQ(r["runs"][0]["commit"], "abc123");
}

TEST(ReportData, AnEmptyStoreIsBadInput) {
  test::TempDir dir;
  { ResultsStore s(dir.file("e.db")); }
  ResultsStore store(dir.file("e.db"), true);
  EXPECT_THROW(gather_report(store), InputError);
}

TEST(ReportHtml, DataCannotEndItsScriptElement) {
  EXPECT_EQ(json_script_safe(R"({"a":"</script><b>"})"), R"({"a":"<\/script><b>"})");
  nlohmann::json r = {{"study", "</script><script>alert(1)</script>"}, {"cells", nlohmann::json::array()},
                      {"configs", nlohmann::json::array()}};
  const std::string page = render_report_html(r);
  // Five script elements (three library files, the data, the page's script): five closing tags.
  size_t closes = 0;
  for (size_t at = page.find("</script>"); at != std::string::npos; at = page.find("</script>", at + 1)) ++closes;
  EXPECT_EQ(closes, 5u);
  EXPECT_EQ(page.find("<!--QS_"), std::string::npos);  // every marker filled
  EXPECT_EQ(page.find("{{TITLE}}"), std::string::npos);
  EXPECT_NE(page.find("&lt;/script&gt;&lt;script&gt;alert(1)"), std::string::npos);  // the title, escaped
  // Nothing loaded from elsewhere (the browser test also watches for any request at all).
  EXPECT_EQ(page.find("<script src"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
}

TEST(ReportWriter, WritesEveryFile) {
  test::TempDir dir;
  fill_store(dir.file("s.db"));
  ResultsStore store(dir.file("s.db"), true);
  const auto written = write_report(gather_report(store), dir.file("out"));
  EXPECT_EQ(written.size(), 7u);
  for (const auto& f : written) EXPECT_GT(std::filesystem::file_size(f), 0u) << f;
  std::ifstream md(dir.file("out/report.md"));
  std::stringstream ss;
  ss << md.rdbuf();
  const std::string text = ss.str();
  EXPECT_NE(text.find("refused by npu: 2-bit weights"), std::string::npos);
  EXPECT_NE(text.find("| rtn W4 g32 | 5 | 7 ± 0.5 | nan ± nan |"), std::string::npos) << text;
  EXPECT_NE(text.find("2 comparisons of the same model and task on two targets, 2 significant"), std::string::npos);
  // The CSV keeps one row per metric with the cell's provenance.
  std::ifstream csv(dir.file("out/results.csv"));
  std::string header, line;
  std::getline(csv, header);
  EXPECT_NE(header.find("commit"), std::string::npos);
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  EXPECT_EQ(rows, 4 + 4 + 4 + 4 + 4 + 1 + 1 + 1 + 2);  // kld cells: 4 metrics each; refused: one empty row
}

TEST(ReportCli, WritesTheReportAndRefusesWhatIsNotAStore) {
  test::TempDir dir;
  fill_store(dir.file("s.db"));
  const auto ok = test::run_cli("report " + dir.file("s.db") + " --out " + dir.file("rep"));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("rep/index.html")));
  std::ofstream(dir.file("junk.db")) << "not a database at all, not even close................................";
  const auto bad = test::run_cli("report " + dir.file("junk.db") + " --out " + dir.file("rep2"));
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("junk.db"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("rep2")));
}

}  // namespace
}  // namespace quantscope
