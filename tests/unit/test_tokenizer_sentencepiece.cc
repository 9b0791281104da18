// SentencePiece tokenizer.model through libsentencepiece, against goldens the spm_encode CLI wrote for
// tests/fixtures/tokenizer/sp_bpe500.model (BPE, 500 pieces, byte fallback; scripts/make_tokenizer_goldens.py).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/mapped_file.h"
#include "test_util.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace quantscope {
namespace {

using test::fixture_path;

const std::string kModel = "tokenizer/sp_bpe500.model";

TEST(TokenizerSentencePiece, LoadsTheFixtureModel) {
  SentencePieceTokenizer tok(fixture_path(kModel));
  EXPECT_EQ(tok.vocab_size(), 500);
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.kind(), "sentencepiece");
  EXPECT_EQ(tok.source(), fixture_path(kModel));
  EXPECT_EQ(tok.id_to_piece(1), "<s>");
  EXPECT_EQ(tok.piece_to_id("<0x41>"), 0x41 + 3);
}

TEST(TokenizerSentencePiece, MatchesSpmEncodeGoldens) {
  SentencePieceTokenizer tok(fixture_path(kModel));
  const auto goldens = nlohmann::json::parse(read_text_file(fixture_path("tokenizer/sp_goldens.json")));
  ASSERT_GE(goldens["cases"].size(), 8u);
  for (const auto& c : goldens["cases"]) {
    const std::string text = c["text"].get<std::string>();
    const auto ids = c["ids"].get<std::vector<int>>();
    EXPECT_EQ(tok.encode(text, false), ids) << text;
    std::vector<int> with_bos = {1};
    with_bos.insert(with_bos.end(), ids.begin(), ids.end());
    EXPECT_EQ(tok.encode(text, true), with_bos) << text;
    const auto pieces = c["pieces"].get<std::vector<std::string>>();
    ASSERT_EQ(pieces.size(), ids.size());
    for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(tok.id_to_piece(ids[i]), pieces[i]);
  }
}

TEST(TokenizerSentencePiece, RoundTripsAndStreamsLikeTheLibrary) {
  SentencePieceTokenizer tok(fixture_path(kModel));
  const auto goldens = nlohmann::json::parse(read_text_file(fixture_path("tokenizer/sp_goldens.json")));
  std::vector<std::string> texts;
  for (const auto& c : goldens["cases"]) texts.push_back(c["text"].get<std::string>());
  texts.push_back("\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9 emoji family, \xE4\xB8\xAD\xE6\x96\x87 CJK");
  texts.push_back("");
  for (const auto& text : texts) {
    for (bool bos : {false, true}) {
      const auto ids = tok.encode(text, bos);
      EXPECT_EQ(tok.decode(ids), text);
      std::string streamed;
      int prev = -1;
      for (int id : ids) {
        streamed += tok.decode_piece(prev, id);
        prev = id;
      }
      EXPECT_EQ(streamed, text) << "bos " << bos;
    }
  }
  EXPECT_EQ(tok.decode_piece(1, tok.piece_to_id("\xE2\x96\x81Once")), "Once");
  EXPECT_EQ(tok.decode_piece(-1, tok.piece_to_id("\xE2\x96\x81Once")), "Once");
  EXPECT_EQ(tok.decode_piece(200, tok.piece_to_id("\xE2\x96\x81Once")), " Once");
  EXPECT_EQ(tok.decode_piece(-1, 0xC3 + 3), "\xC3");
  EXPECT_EQ(tok.decode_piece(-1, 1), "");
  EXPECT_EQ(tok.decode_piece(-1, 0), " \xE2\x81\x87 ");  // <unk>
  EXPECT_THROW(tok.decode_piece(-1, 500), InputError);
  EXPECT_THROW(tok.decode({5, 500}), InputError);
}

TEST(TokenizerSentencePiece, CorruptModelsNameTheFile) {
  test::TempDir dir;
  const std::string model = read_text_file(fixture_path(kModel));
  const auto expect_named_error = [](const std::string& path) {
    try {
      SentencePieceTokenizer tok(path);
      ADD_FAILURE() << "loaded " << path;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  };
  const auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(dir.file(name), std::ios::binary) << bytes;
    return dir.file(name);
  };
  expect_named_error(write("garbage.model", "this is not a protobuf at all \xFF\xFF\xFF\xFF"));
  expect_named_error(write("truncated.model", model.substr(0, model.size() / 2)));
  expect_named_error(write("empty.model", ""));
  expect_named_error(dir.file("missing.model"));
  expect_named_error(dir.path());
  // A unigram model with an empty piece: the library's trie builder throws instead of returning a
  // status (found by fuzz_sentencepiece; the input is kept in fuzz/regressions/).
  const std::string empty_piece =
      read_text_file(test::source_path("fuzz/regressions/sentencepiece/empty-piece-darts-e373ac92"));
  ASSERT_FALSE(empty_piece.empty());
  expect_named_error(write("empty_piece.model", empty_piece));
}

}  // namespace
}  // namespace quantscope
