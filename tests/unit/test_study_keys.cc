// Content keys: SHA-256 itself, and cell keys that are stable for the same inputs and change with each
// input that determines a result (recipe, calibration draw, target, task, data bytes), but not with
// the seed of a recipe that does not calibrate.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "core/sha256.h"
#include "study/cell_key.h"
#include "study/study_plan.h"
#include "test_util.h"

namespace quantscope {
namespace {

TEST(StudyKeys, Sha256KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // 56 bytes: the padding spills into a second block.
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;  // the same bytes fed in pieces
  h.update("abcdbcdecdefdefgefghfghighij");
  h.update("hijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(h.hex(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(StudyKeys, ContentHashFollowsBytesNotNames) {
  test::TempDir tmp;
  std::ofstream(tmp.file("a")) << "hello";
  std::ofstream(tmp.file("b")) << "hello";
  std::ofstream(tmp.file("c")) << "hellp";
  EXPECT_EQ(content_hash(tmp.file("a")), content_hash(tmp.file("b")));
  EXPECT_NE(content_hash(tmp.file("a")), content_hash(tmp.file("c")));
}

StudySpec tiny() { return read_study_spec(test::source_path("studies/tiny.json")); }

std::vector<std::string> keys(const StudySpec& s) {
  std::vector<std::string> k;
  for (const auto& c : make_study_plan(s).cells) k.push_back(c.key);
  return k;
}

TEST(StudyKeys, StableAndDistinct) {
  const auto a = keys(tiny()), b = keys(tiny());
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::set<std::string>(a.begin(), a.end()).size(), a.size());  // every cell its own key
  for (const auto& k : a) EXPECT_EQ(k.size(), 64u);
}

TEST(StudyKeys, SensitiveToEachInput) {
  const StudyPlan base = make_study_plan(tiny());
  // Find the cells of one recipe by label; index 0 is the baseline's first cell.
  auto key_of = [](const StudyPlan& p, const std::string& recipe, const std::string& target, const std::string& task) {
    for (const auto& c : p.cells)
      if (c.recipe_label == recipe && c.target_name == target && c.task_name == task) return c.key;
    return std::string();
  };
  const std::string gptq = key_of(base, "gptq W4 g32", "host", "ppl"), rtn = key_of(base, "rtn W4 g32", "host", "ppl");
  ASSERT_FALSE(gptq.empty());
  ASSERT_FALSE(rtn.empty());
  EXPECT_NE(gptq, key_of(base, "gptq W4 g32", "nvidia-h100", "ppl"));  // target
  EXPECT_NE(gptq, key_of(base, "gptq W4 g32", "host", "kld"));         // task

  StudySpec s = tiny();
  s.seeds = {1};  // the calibration draw changes GPTQ, not RTN
  const StudyPlan seeded = make_study_plan(s);
  EXPECT_NE(gptq, key_of(seeded, "gptq W4 g32", "host", "ppl"));
  EXPECT_EQ(rtn, key_of(seeded, "rtn W4 g32", "host", "ppl"));

  s = tiny();
  s.calibration.samples = 9;
  EXPECT_NE(gptq, key_of(make_study_plan(s), "gptq W4 g32", "host", "ppl"));

  s = tiny();
  s.recipes[1].json["default"]["symmetric"] = false;  // same label, different recipe
  EXPECT_NE(gptq, key_of(make_study_plan(s), "gptq W4 g32", "host", "ppl"));

  s = tiny();
  s.tasks[0].ctx = 65;
  EXPECT_NE(gptq, key_of(make_study_plan(s), "gptq W4 g32", "host", "ppl"));

  s = tiny();  // the same task over other bytes
  s.tasks[0].path = test::source_path("data/wikitext2-test.raw");
  EXPECT_NE(gptq, key_of(make_study_plan(s), "gptq W4 g32", "host", "ppl"));

  s = tiny();  // a renamed task and a renamed study measure the same thing
  s.tasks[0].name = "perplexity";
  s.name = "other";
  EXPECT_EQ(gptq, key_of(make_study_plan(s), "gptq W4 g32", "host", "perplexity"));
}

TEST(StudyKeys, QuantizedModelSharedAcrossTargetsAndTasks) {
  const StudyPlan p = make_study_plan(tiny());
  std::set<std::string> gptq_models;
  for (const auto& c : p.cells)
    if (c.recipe_label == "gptq W4 g32") gptq_models.insert(c.quant_key);
  EXPECT_EQ(gptq_models.size(), 1u);
  EXPECT_FALSE(gptq_models.begin()->empty());
}

}  // namespace
}  // namespace quantscope
