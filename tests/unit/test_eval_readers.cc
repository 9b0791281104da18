// Task readers: each public layout parsed from a handcrafted fixture into the exact prompts
// lm-evaluation-harness builds; malformed lines name the file and line (exit 2) or are counted and
// skipped under --skip-invalid.
#include <gtest/gtest.h>

#include "core/error.h"
#include "eval/mc_task.h"
#include "test_util.h"

namespace quantscope {
namespace {

std::string fx(const std::string& name) { return test::fixture_path("eval/" + name); }

TEST(EvalReaders, Blimp) {
  McTask t = read_mc_task("blimp", fx("blimp_small.jsonl"), {});
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_EQ(t.items[0].choices.size(), 2u);
  EXPECT_EQ(t.items[0].choices[0].context, "");
  EXPECT_EQ(t.items[0].choices[0].continuation, "The cat is happy.");
  EXPECT_EQ(t.items[0].choices[1].continuation, "The cat are happy.");
  EXPECT_EQ(t.items[0].answer, 0);
  EXPECT_EQ(t.items[0].group, "toy_agreement");
  EXPECT_EQ(t.items[2].line, 3);
}

TEST(EvalReaders, BlimpDirectoryLimitIsPerPhenomenon) {
  TaskReadOptions o;
  o.limit = 2;
  McTask t = read_mc_task("blimp", test::data_path("blimp"), o);
  EXPECT_EQ(t.items.size() % 2, 0u);
  EXPECT_GE(t.items.size(), 2u * 50);
  EXPECT_EQ(t.items[0].group, "adjunct_island");  // files in sorted order
}

TEST(EvalReaders, HellaSwagPreprocessedAsLmEval) {
  McTask t = read_mc_task("hellaswag", fx("hellaswag.jsonl"), {});
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.items[0].answer, 3);  // "label": "3"
  EXPECT_EQ(t.items[0].choices[0].context,
            "Removing ice from car: Then, the man writes over the snow covering the window of a car, and a woman "
            "wearing winter clothes smiles. Then");
  EXPECT_EQ(t.items[0].choices[3].continuation, " , the man continues removing the snow on his car.");
  // [title] -> ". ", bracketed tags dropped, capitalize() lowers the rest, double spaces collapsed
  EXPECT_EQ(t.items[1].choices[0].context, "Home and Garden: How to grow flowers. Pick a sunny spot. Water the seeds");
  EXPECT_EQ(t.items[1].choices[0].continuation, " every day until they sprout.");
  EXPECT_TRUE(t.report_acc_norm);
}

TEST(EvalReaders, Arc) {
  McTask t = read_mc_task("arc-challenge", fx("arc.jsonl"), {});
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.items[0].answer, 2);
  EXPECT_EQ(t.items[0].choices[2].context.substr(0, 10), "Question: ");
  EXPECT_EQ(t.items[0].choices[2].context.substr(t.items[0].choices[2].context.size() - 8), "\nAnswer:");
  EXPECT_EQ(t.items[0].choices[2].continuation, " Planetary days will become shorter.");
  EXPECT_EQ(t.items[1].answer, 2);  // numeric labels "1".."3", answerKey "3"
  EXPECT_EQ(t.items[1].choices.size(), 3u);
}

TEST(EvalReaders, Piqa) {
  McTask t = read_mc_task("piqa", fx("piqa.jsonl"), {});
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.items[0].choices[1].context, "Question: When boiling butter, when it's ready, you can\nAnswer:");
  EXPECT_EQ(t.items[0].choices[1].continuation, " Pour it into a jar");
  EXPECT_EQ(t.items[0].answer, 1);
}

TEST(EvalReaders, WinograndePartialScoring) {
  McTask t = read_mc_task("winogrande", fx("winogrande.jsonl"), {});
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.items[0].choices[0].context, "Sarah was a much better surgeon than Maria so Sarah");
  EXPECT_EQ(t.items[0].choices[1].context, "Sarah was a much better surgeon than Maria so Maria");
  EXPECT_EQ(t.items[0].choices[0].continuation, " always got the harder cases.");
  EXPECT_EQ(t.items[0].choices[1].continuation, t.items[0].choices[0].continuation);
  EXPECT_EQ(t.items[0].answer, 0);
  EXPECT_FALSE(t.report_acc_norm);
}

TEST(EvalReaders, Lambada) {
  McTask t = read_mc_task("lambada", fx("lambada.jsonl"), {});
  ASSERT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.metric, McMetric::Greedy);
  ASSERT_EQ(t.items[1].choices.size(), 1u);
  EXPECT_EQ(t.items[1].choices[0].context, "Tom had a red ball. He liked to play with the ball. He threw the ball and his "
                                           "dog ran to get the");
  EXPECT_EQ(t.items[1].choices[0].continuation, " ball");
}

TEST(EvalReaders, Generic) {
  McTask t = read_mc_task("mc", fx("generic.jsonl"), {});
  ASSERT_EQ(t.items.size(), 3u);
  EXPECT_EQ(t.items[1].answer, 0);  // "0" as a string
  EXPECT_EQ(t.items[1].choices[0].context, "");
  EXPECT_EQ(t.items[2].choices.size(), 3u);
  EXPECT_EQ(t.items[0].group, "stories");
  EXPECT_EQ(t.items[2].group, "");
}

void expect_bad(const std::string& kind, const std::string& file, const std::string& line, const std::string& what) {
  try {
    read_mc_task(kind, fx(file), {});
    FAIL() << file << " was accepted";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(fx(file) + ":" + line + ":"), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(EvalReaders, MalformedLinesNameFileAndLine) {
  expect_bad("mc", "bad_missing_field.jsonl", "2", "'choices' is missing");
  expect_bad("mc", "bad_answer_index.jsonl", "3", "'answer' is 2, outside 0..1");
  expect_bad("mc", "bad_empty_choice.jsonl", "1", "empty choice");
  expect_bad("mc", "bad_utf8.jsonl", "2", "invalid UTF-8");
  expect_bad("mc", "mixed_invalid.jsonl", "2", "'choices' has 0 entries");
  expect_bad("blimp", "bad_blimp.jsonl", "2", "'sentence_bad' is missing");
  expect_bad("winogrande", "bad_winogrande.jsonl", "1", "no '_'");
  expect_bad("arc", "bad_arc.jsonl", "1", "'answerKey' is 'E'");
}

TEST(EvalReaders, SkipInvalidCounts) {
  TaskReadOptions o;
  o.skip_invalid = true;
  McTask t = read_mc_task("mc", fx("mixed_invalid.jsonl"), o);
  EXPECT_EQ(t.items.size(), 2u);
  EXPECT_EQ(t.invalid, 3);  // empty choices, not JSON, bad answer (the blank line is not a line of data)
  EXPECT_EQ(t.items[1].line, 6);
}

TEST(EvalReaders, CliMalformedExits2) {
  const std::string model = test::data_path("stories260K.bin") + " --tokenizer " + test::data_path("tok512.bin");
  auto r = test::run_cli("eval " + model + " -q --tasks mc:" + fx("bad_utf8.jsonl"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("bad_utf8.jsonl:2: invalid UTF-8"), std::string::npos) << r.err;
  test::TempDir tmp;
  r = test::run_cli("eval " + model + " -q --skip-invalid --tasks mc:" + fx("mixed_invalid.jsonl") + " --json " +
                    tmp.file("o.json"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 malformed lines skipped"), std::string::npos) << r.out;
  r = test::run_cli("eval " + model + " -q --tasks nosuch:x");
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace quantscope
