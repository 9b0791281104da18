// load_tokenizer(): which file it picks for a model path, format detection by name and by content,
// and the default Tokenizer::decode.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace quantscope {
namespace {

namespace fs = std::filesystem;
using test::data_path;
using test::fixture_path;

void copy(const std::string& from, const std::string& to) {
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

TEST(TokenizerLoad, Llama2cCheckpointFindsTokBesideIt) {
  auto tok = load_tokenizer(data_path("stories260K.bin"), "", 512);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), "llama2c");
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(fs::path(tok->source()).filename(), "tok512.bin");

  test::TempDir dir;
  copy(data_path("tok512.bin"), dir.file("tokenizer.bin"));
  std::ofstream(dir.file("model.bin")) << "x";
  tok = load_tokenizer(dir.file("model.bin"), "", 512);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(fs::path(tok->source()).filename(), "tokenizer.bin");
  // The model's vocab size is enforced on a llama2.c tokenizer.
  EXPECT_THROW(load_tokenizer(dir.file("model.bin"), "", 1000), InputError);
  EXPECT_EQ(load_tokenizer(fixture_path("no-such-dir/model.bin"), "", 512), nullptr);
}

TEST(TokenizerLoad, DirectoryPrefersTokenizerJsonThenModel) {
  test::TempDir dir;
  EXPECT_EQ(load_tokenizer(dir.path(), "", 0), nullptr);
  copy(fixture_path("tokenizer/sp_bpe500.model"), dir.file("tokenizer.model"));
  auto tok = load_tokenizer(dir.path(), "", 0);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), "sentencepiece");
  copy(fixture_path("tokenizer/hf_llama3.json"), dir.file("tokenizer.json"));
  tok = load_tokenizer(dir.path(), "", 0);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->kind(), "hf-bpe");
  EXPECT_EQ(tok->eos_id(), 618);
  // tokenizer_config.json beside it names the special tokens.
  std::ofstream(dir.file("tokenizer_config.json")) << R"({"eos_token": "<|eot_id|>"})";
  tok = load_tokenizer(dir.file("model.safetensors"), "", 0);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->eos_id(), 619);
}

TEST(TokenizerLoad, ExplicitPathWinsAndFormatComesFromContent) {
  test::TempDir dir;
  copy(data_path("tok512.bin"), dir.file("a"));
  copy(fixture_path("tokenizer/sp_bpe500.model"), dir.file("b"));
  copy(fixture_path("tokenizer/hf_gpt2.json"), dir.file("c"));
  copy(data_path("tokenizer_llama2_32000.bin"), dir.file("d"));
  EXPECT_EQ(load_tokenizer(data_path("stories260K.bin"), dir.file("a"), 512)->kind(), "llama2c");
  EXPECT_EQ(load_tokenizer("", dir.file("b"), 0)->kind(), "sentencepiece");
  EXPECT_EQ(load_tokenizer("", dir.file("c"), 0)->kind(), "hf-bpe");
  EXPECT_EQ(load_tokenizer("", dir.file("d"), 0)->vocab_size(), 32000);
  EXPECT_EQ(load_tokenizer("", fixture_path("tokenizer/hf_qwen2.json"), 0)->kind(), "hf-bpe");
  EXPECT_THROW(load_tokenizer("", dir.path(), 0), InputError);  // an explicit directory without a tokenizer
  std::ofstream(dir.file("junk")) << "\x01\x02\x03\x04\x05\x06";
  try {
    load_tokenizer("", dir.file("junk"), 0);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot tell the tokenizer format"), std::string::npos) << e.what();
  }
  try {
    load_tokenizer(data_path("stories260K.bin"), dir.file("missing.json"), 0);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json: tokenizer file not found"), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoad, DefaultDecodeConcatenatesPiecesWithoutBosEos) {
  Llama2cTokenizer tok(data_path("tok512.bin"));
  const auto ids = tok.encode("Lily saw a cat.", true);
  std::string expected;
  for (size_t i = 1; i < ids.size(); ++i) expected += tok.decode_piece(ids[i - 1], ids[i]);
  std::vector<int> with_eos = ids;
  with_eos.push_back(tok.eos_id());
  EXPECT_EQ(tok.decode(with_eos), expected);
  EXPECT_EQ(expected, "Lily saw a cat.");
  // Without BOS the dummy-prefix space stays, as llama2.c prints it.
  EXPECT_EQ(tok.decode(tok.encode("Lily", false)), " Lily");
}

}  // namespace
}  // namespace quantscope
