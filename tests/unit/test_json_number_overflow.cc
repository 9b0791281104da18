// A JSON number too large for a double (1e999) makes nlohmann::json throw out_of_range, not
// parse_error; the parsers caught only parse_error, so the exception escaped as an internal error
// (exit 1, "terminate" under the fuzzers). Found by fuzz/fuzz_tokenizer_json and fuzz/fuzz_recipe;
// their inputs are in fuzz/regressions/ and replayed here, with a minimal case for every JSON parser.
// The study spec and the AscendV1 readers still had the narrow catch (found again by fuzz_study_spec);
// every whole-document parse now goes through parse_json_document (formats/json_fields).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json_document.h"
#include "formats/safetensors.h"
#include "interop/ascend_v1_check.h"
#include "model/hf_config.h"
#include "quant/quantized_model.h"
#include "quant/recipe.h"
#include "study/study_spec.h"
#include "targets/target_profile.h"
#include "test_util.h"
#include "tokenizer/hf_bpe_tokenizer.h"

namespace quantscope {
namespace {

using test::TempDir;

// The InputError message, or "" when `fn` succeeds. Any other exception fails the test by escaping.
std::string input_error(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(JsonNumberOverflow, FuzzerInputsAreInputErrors) {
  const std::string tok = slurp(test::source_path("fuzz/regressions/tokenizer_json/number-overflow-494c8402"));
  ASSERT_FALSE(tok.empty());
  EXPECT_NE(input_error([&] { HfBpeTokenizer t(tok, "tokenizer.json"); }).find("tokenizer.json: not valid JSON"),
            std::string::npos);
  const std::string recipe = slurp(test::source_path("fuzz/regressions/recipe/number-overflow-86a26fa9"));
  ASSERT_FALSE(recipe.empty());
  EXPECT_NE(input_error([&] { parse_recipe(recipe, "r.json"); }).find("r.json: not valid JSON"), std::string::npos);
  const std::string study = slurp(test::source_path("fuzz/regressions/study_spec/number-overflow-102509f4"));
  ASSERT_FALSE(study.empty());
  EXPECT_NE(input_error([&] { parse_study_spec(study, "s.json"); }).find("s.json: not valid JSON"), std::string::npos);
}

TEST(JsonNumberOverflow, SyntaxErrorsNameTheByte) {
  EXPECT_NE(input_error([&] { parse_json_document(R"({"a": [1, 2,, 3]})", "x.json"); }).find("x.json: not valid JSON (byte 12"),
            std::string::npos);
}

TEST(JsonNumberOverflow, EveryJsonParserNamesTheFile) {
  const std::string doc = R"({"x": 1e999})";
  EXPECT_NE(input_error([&] { parse_recipe(doc, "r.json"); }).find("r.json: not valid JSON"), std::string::npos);
  EXPECT_NE(input_error([&] { parse_hf_config(doc, "config.json"); }).find("config.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(input_error([&] { HfBpeTokenizer t(doc, "tokenizer.json"); }).find("tokenizer.json: not valid JSON"),
            std::string::npos);
  EXPECT_NE(input_error([&] { parse_target_profile(doc, "t.json"); }).find("t.json: not valid JSON"),
            std::string::npos);

  EXPECT_NE(input_error([&] { parse_study_spec(doc, "s.json"); }).find("s.json: not valid JSON"), std::string::npos);

  TempDir dir;
  std::ofstream(dir.file("quant_model_description.json")) << doc;  // an AscendV1 directory's description
  EXPECT_NE(input_error([&] { open_ascend_v1(dir.path()); }).find("quant_model_description.json: not valid JSON"),
            std::string::npos);
  {
    // A safetensors file whose header is the document: u64 length, then the JSON.
    std::ofstream f(dir.file("m.safetensors"), std::ios::binary);
    const uint64_t n = doc.size();
    f.write(reinterpret_cast<const char*>(&n), 8);
    f << doc;
  }
  EXPECT_NE(input_error([&] { read_safetensors_file(dir.file("m.safetensors")); }).find("byte 8: invalid JSON"),
            std::string::npos);
  std::ofstream(dir.file("quant_description.json")) << doc;
  EXPECT_NE(input_error([&] { load_quantized_model(dir.path(), LoadOptions{}); }).find("not valid JSON"),
            std::string::npos);
}

}  // namespace
}  // namespace quantscope
