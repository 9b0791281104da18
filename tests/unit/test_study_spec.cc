// studies/*.json parsing: the bundled studies parse; every unknown or wrong field is an InputError
// naming the file and the field.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/mapped_file.h"
#include "study/study_spec.h"
#include "test_util.h"

namespace quantscope {
namespace {

std::string spec_with(const std::string& extra_top, const std::string& task_extra = "") {
  return R"({"models": ["../data/stories260K.bin"], "tokenizer": "../data/tok512.bin",
             "recipes": {"grid": [{"methods": ["rtn", "gptq"], "bits": ["W4", "W8A8"], "granularity": ["group", "channel"],
                                   "group_size": 32}]},
             "targets": ["host"], "tasks": [{"kind": "ppl", "text": "../data/tinystories-valid.txt", "ctx": 32)" +
         task_extra + "}]" + extra_top + "}";
}

// Parsed as if it were a file in studies/ (relative paths are from the spec's directory).
StudySpec parse(const std::string& text) { return parse_study_spec(text, test::source_path("studies/x.json")); }

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(StudySpec, BundledStudiesParse) {
  const StudySpec tiny = read_study_spec(test::source_path("studies/tiny.json"));
  EXPECT_EQ(tiny.name, "tiny");
  EXPECT_EQ(tiny.recipes.size(), 2u);
  EXPECT_EQ(tiny.tasks.size(), 3u);
  EXPECT_EQ(tiny.targets, (std::vector<std::string>{"host", "nvidia-h100"}));
  EXPECT_EQ(tiny.calibration.samples, 8);
  const StudySpec paper = read_study_spec(test::source_path("studies/paper.json"));
  // 3 methods x 4 bits + 4 methods at W1 + SliM-LLM x 3 + 2 methods x 2 (W8A8, W4A4).
  EXPECT_EQ(paper.recipes.size(), 23u);
  EXPECT_EQ(paper.targets.size(), 4u);
  const StudySpec bench = read_study_spec(test::source_path("studies/bench-mpi.json"));
  EXPECT_EQ(bench.recipes.size(), 7u);
}

TEST(StudySpec, GridExpandsMethodsBitsGranularity) {
  const StudySpec s = parse(spec_with(""));
  ASSERT_EQ(s.recipes.size(), 8u);  // 2 methods x 2 bit widths x 2 granularities
  EXPECT_EQ(s.recipes[0].label, "rtn W4 g32");
  EXPECT_EQ(s.recipes[0].json["default"]["w_bits"], 4);
  EXPECT_EQ(s.recipes[0].json["default"]["group_size"], 32);
  EXPECT_EQ(s.recipes[2].label, "rtn W8A8 g32");
  EXPECT_EQ(s.recipes[2].json["default"]["a_bits"], 8);
  EXPECT_FALSE(s.recipes[1].json["default"].contains("group_size"));  // channel
  // Paths are made absolute against the spec's directory.
  EXPECT_EQ(s.models[0], test::source_path("data/stories260K.bin"));
  EXPECT_EQ(s.tasks[0].protocol, "full-window");
  EXPECT_EQ(s.seeds, (std::vector<uint64_t>{0}));
}

TEST(StudySpec, UnknownFieldsAreNamed) {
  EXPECT_NE(error_of(spec_with(R"(, "thread": 2)")).find("unknown field 'thread'"), std::string::npos);
  EXPECT_NE(error_of(spec_with("", R"(, "windws": 3)")).find("unknown field 'windws'"), std::string::npos);
  const std::string e = error_of(spec_with("", R"(, "windws": 3)"));
  EXPECT_NE(e.find("tasks[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("x.json"), std::string::npos) << e;
}

// A path the file system refuses outright (a name longer than NAME_MAX) is bad input, not an escaped
// filesystem_error (found by fuzz_study_spec; input in fuzz/regressions/study_spec).
TEST(StudySpec, UnusablePathIsBadInput) {
  EXPECT_NE(error_of(spec_with(R"(, "tokenizer": ")" + std::string(5000, 'x') + "\"")).find("does not exist"),
            std::string::npos);
  const std::string found = read_text_file(test::source_path("fuzz/regressions/study_spec/name-too-long-fe7df7b6"));
  EXPECT_THROW(parse_study_spec(found, test::source_path("studies/found.json")), InputError);
}

TEST(StudySpec, BadValuesAreNamed) {
  EXPECT_NE(error_of(spec_with(R"(, "seeds": [-1])")).find("seeds[0]"), std::string::npos);
  EXPECT_NE(error_of(spec_with("", R"(, "protocol": "sliding")")).find("protocol"), std::string::npos);
  EXPECT_NE(error_of(spec_with("", R"(, "limit": 3)")).find("'limit' does not apply"), std::string::npos);
  std::string bad_bits = spec_with("");
  bad_bits.replace(bad_bits.find("\"W8A8\""), 6, "\"W9\"");
  EXPECT_NE(error_of(bad_bits).find("'W9' is not a bit width"), std::string::npos);
  std::string bad_method = spec_with("");
  bad_method.replace(bad_method.find("\"gptq\""), 6, "\"gptx\"");
  EXPECT_NE(error_of(bad_method).find("unknown method 'gptx'"), std::string::npos);
  std::string missing = spec_with("");
  missing.replace(missing.find("stories260K.bin"), 15, "nothere.bin");
  EXPECT_NE(error_of(missing).find("models[0]: '../data/nothere.bin' does not exist"), std::string::npos) << error_of(missing);
  EXPECT_NE(error_of("{\"models\": [}").find("not valid JSON"), std::string::npos);
}

// A sensitivity task names the study's recipes by label; other task kinds take no recipe list.
TEST(StudySpec, SensitivityTaskNamesRecipes) {
  const std::string sens = R"(, {"name": "s", "kind": "sensitivity", "text": "../data/tinystories-valid.txt", "ctx": 32,
                                 "recipes": ["rtn W4 g32"]}])";
  std::string ok = spec_with("");
  ok.replace(ok.rfind("}]"), 2, "}" + sens);
  const StudySpec s = parse(ok);
  ASSERT_EQ(s.tasks.size(), 2u);
  EXPECT_EQ(s.tasks[1].kind, "sensitivity");
  EXPECT_EQ(s.tasks[1].recipes, (std::vector<std::string>{"rtn W4 g32"}));
  EXPECT_NE(s.tasks[1].protocol_description().find("one decoder linear quantized at a time"), std::string::npos);

  std::string unknown = ok;
  unknown.replace(unknown.find("\"rtn W4 g32\"]"), 12, "\"rtn W5 g32\"");
  EXPECT_NE(error_of(unknown).find("tasks[1].recipes[0]: 'rtn W5 g32' is not a recipe of this study"), std::string::npos)
      << error_of(unknown);
  EXPECT_NE(error_of(spec_with("", R"(, "recipes": ["rtn W4 g32"])")).find("'recipes' does not apply to a ppl task"),
            std::string::npos);
}

TEST(StudySpec, BadFieldExitsTwoThroughTheCli) {
  test::TempDir tmp;
  std::ofstream(tmp.file("s.json")) << spec_with(R"(, "targetz": ["host"])");
  const auto r = test::run_cli("study plan " + tmp.file("s.json"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown field 'targetz'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace quantscope
