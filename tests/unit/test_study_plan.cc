// The plan of studies/paper.json: every cell of the grid, the targets' refusals with their reasons, the
// host refusing nothing, cost estimates from the roofline, and deterministic disjoint shards.
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "study/study_plan.h"
#include "test_util.h"

namespace quantscope {
namespace {

const StudyPlan& paper() {
  static const StudyPlan p = make_study_plan(read_study_spec(test::source_path("studies/paper.json")));
  return p;
}

TEST(StudyPlan, PaperGridWithRefusals) {
  const StudyPlan& p = paper();
  // (23 recipes + the unquantized baseline) x 4 targets x 3 tasks, one calibration seed, and the
  // sensitivity task's two recipes x 4 targets.
  ASSERT_EQ(p.cells.size(), 24u * 4u * 3u + 2u * 4u);
  std::map<std::string, int> refused;
  for (const auto& c : p.cells) {
    if (c.refused.empty()) {
      EXPECT_GT(c.est_seconds, 0) << c.recipe_label;
      continue;
    }
    ++refused[c.target_name];
    EXPECT_NE(c.refused.find(c.target_name), std::string::npos) << c.refused;
  }
  EXPECT_EQ(refused.count("host"), 0u) << "the host runs every scheme quantscope implements";
  EXPECT_GT(refused["ascend-910b1"], 0);
  EXPECT_GT(refused["ascend-310p"], 0);
  EXPECT_LT(p.runnable(), p.cells.size());
  // The baseline runs everywhere.
  for (const auto& c : p.cells)
    if (c.recipe < 0) {
      EXPECT_TRUE(c.refused.empty()) << c.target_name << ": " << c.refused;
    }
}

// A sensitivity task has cells only for the recipes it names (never the baseline); each carries the
// KLD reference of its text, and every cell its cost on its target from the roofline.
TEST(StudyPlan, SensitivityCellsAndCosts) {
  const StudyPlan& p = paper();
  std::set<std::string> sens_recipes;
  for (const auto& c : p.cells) {
    if (c.task_name == "sensitivity") {
      sens_recipes.insert(c.recipe_label);
      EXPECT_FALSE(c.reference_key.empty());
    }
    if (c.refused.empty()) {
      EXPECT_GT(c.cost.bits_per_weight, 0) << c.recipe_label;
      EXPECT_GT(c.cost.weight_bytes, 0) << c.recipe_label << " " << c.target_name;
      EXPECT_GT(c.cost.decode_tok_s, 0) << c.recipe_label << " " << c.target_name;
    }
    if (c.recipe < 0) {
      EXPECT_DOUBLE_EQ(c.cost.bits_per_weight, 32.0);  // stories260K is fp32
    }
  }
  EXPECT_EQ(sens_recipes, (std::set<std::string>{"rtn W4 g32", "gptq W4 g32"}));
  // The kld task and the sensitivity task over the same text share one reference.
  std::string kld_ref, sens_ref;
  for (const auto& c : p.cells) {
    if (c.task_name == "kld" && kld_ref.empty()) kld_ref = c.reference_key;
    if (c.task_name == "sensitivity" && sens_ref.empty()) sens_ref = c.reference_key;
  }
  EXPECT_EQ(kld_ref, sens_ref);
}

TEST(StudyPlan, ShardsAreDisjointCompleteAndDeterministic) {
  const StudyPlan& p = paper();
  for (int n : {1, 2, 3, 7}) {
    std::set<size_t> all;
    size_t total = 0;
    for (int i = 0; i < n; ++i) {
      const auto s = shard_cells(p, i, n);
      EXPECT_EQ(s, shard_cells(p, i, n));
      total += s.size();
      all.insert(s.begin(), s.end());
      if (n > 1) {
        EXPECT_LT(s.size(), p.runnable());
      }
    }
    EXPECT_EQ(total, p.runnable()) << n;
    EXPECT_EQ(all.size(), p.runnable()) << n;
  }
  EXPECT_THROW(shard_cells(p, 2, 2), InputError);
}

TEST(StudyPlan, LargestFirst) {
  const StudyPlan& p = paper();
  const auto order = cells_largest_first(p);
  ASSERT_EQ(order.size(), p.runnable());
  for (size_t i = 1; i < order.size(); ++i) {
    EXPECT_GE(p.cells[order[i - 1]].est_seconds, p.cells[order[i]].est_seconds);
  }
}

}  // namespace
}  // namespace quantscope
