// llama2.c tokenizer.bin: goldens from scripts/make_tokenizer_goldens.py (a Python port of run.c
// encode), the fast encoder against the O(n^2) reference, decoding and file validation.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"
#include "test_util.h"
#include "tokenizer/llama2c_tokenizer.h"

namespace quantscope {
namespace {

using test::data_path;
using test::fixture_path;

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// A tokenizer.bin image built in memory.
struct BinBuilder {
  std::string bytes;
  explicit BinBuilder(int32_t max_len) { put(max_len); }
  template <typename T>
  void put(T v) {
    bytes.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  void token(const std::string& piece, float score) {
    put(score);
    put(static_cast<int32_t>(piece.size()));
    bytes += piece;
  }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(bytes.data()); }
};

// <unk>, BOS, EOS and the 256 byte tokens, as the llama2.c exports lay them out.
BinBuilder standard_prefix(int32_t max_len) {
  BinBuilder b(std::max(max_len, 6));  // "\n</s>\n" has 6 bytes
  b.token("<unk>", 0);
  b.token("\n<s>\n", 0);
  b.token("\n</s>\n", 0);
  for (int i = 0; i < 256; ++i) b.token(fmt::format("<0x{:02X}>", i), 0);
  return b;
}

std::string expect_input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

TEST(TokenizerLlama2c, ReadsBothShippedVocabularies) {
  Llama2cTokenizer small(data_path("tok512.bin"));
  EXPECT_EQ(small.vocab_size(), 512);
  EXPECT_EQ(small.max_token_length(), 7);
  EXPECT_EQ(small.piece(1), "\n<s>\n");
  EXPECT_EQ(small.piece(3), "<0x00>");
  EXPECT_EQ(small.bos_id(), 1);
  EXPECT_EQ(small.eos_id(), 2);
  EXPECT_EQ(small.kind(), "llama2c");
  EXPECT_EQ(small.source(), data_path("tok512.bin"));
  Llama2cTokenizer sized(data_path("tok512.bin"), 512);
  EXPECT_EQ(sized.vocab_size(), 512);
  Llama2cTokenizer big(data_path("tokenizer_llama2_32000.bin"), 32000);
  EXPECT_EQ(big.vocab_size(), 32000);
  EXPECT_EQ(big.piece_id(" t"), 260);
}

TEST(TokenizerLlama2c, MatchesPythonPortGoldens) {
  const auto goldens = nlohmann::json::parse(read_text_file(fixture_path("tokenizer/llama2c_goldens.json")));
  int checked = 0;
  for (const auto& [file, cases] : goldens["files"].items()) {
    Llama2cTokenizer tok(data_path(file));
    for (const auto& c : cases) {
      const std::string text = from_hex(c["text_hex"].get<std::string>());
      const auto expected = c["ids_with_bos"].get<std::vector<int>>();
      EXPECT_EQ(tok.encode(text, true), expected) << file << ": " << text;
      EXPECT_EQ(tok.encode_reference(text, true), expected) << file << ": " << text;
      EXPECT_EQ(tok.encode(text, false), std::vector<int>(expected.begin() + 1, expected.end()))
          << file << ": " << text;
      ++checked;
    }
  }
  EXPECT_GE(checked, 30);
}

TEST(TokenizerLlama2c, HandPickedIds) {
  Llama2cTokenizer tok(data_path("tok512.bin"));
  EXPECT_EQ(tok.encode("", true), std::vector<int>{1});
  EXPECT_EQ(tok.encode("", false), std::vector<int>{});
  // A byte that is no piece falls back to byte + 3: U+00FF is not in tok512, its UTF-8 is C3 BF.
  const auto ids = tok.encode("\xC3\xBF", false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], 0xC3 + 3);
  EXPECT_EQ(ids[2], 0xBF + 3);
}

// The greedy output llama2.c prints for stories260K starts right after BOS: encoding it with BOS and
// decoding gives it back byte for byte (the first piece's dummy-prefix space is dropped after BOS).
TEST(TokenizerLlama2c, GreedyReferenceTextRoundTrips) {
  Llama2cTokenizer tok(data_path("tok512.bin"), 512);
  const std::string text = read_text_file(data_path("stories260K-greedy200.txt"));
  const auto ids = tok.encode(text, true);
  EXPECT_EQ(ids.front(), 1);
  EXPECT_EQ(tok.decode(ids), text);
  std::string streamed;
  for (size_t i = 1; i < ids.size(); ++i) streamed += tok.decode_piece(ids[i - 1], ids[i]);
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(tok.decode_piece(1, tok.piece_id(" Once")), "Once");
  EXPECT_EQ(tok.decode_piece(5, tok.piece_id(" Once")), " Once");
}

TEST(TokenizerLlama2c, DecodesBytePiecesAndChecksIds) {
  Llama2cTokenizer tok(data_path("tok512.bin"));
  EXPECT_EQ(tok.decode_piece(-1, 0x0A + 3), "\n");
  EXPECT_EQ(tok.decode_piece(1, 0x20 + 3), " ");  // a byte piece does not start with a space: kept
  EXPECT_EQ(tok.decode_piece(-1, 0xFF + 3), std::string(1, '\xFF'));
  EXPECT_EQ(tok.decode({1, 0xE2 + 3, 0x82 + 3, 0xAC + 3, 2}), "\xE2\x82\xAC");  // BOS and EOS not printed
  const std::string message = expect_input_error([&] { tok.decode_piece(-1, 512); });
  EXPECT_NE(message.find("tok512.bin"), std::string::npos) << message;
  EXPECT_NE(message.find("512"), std::string::npos) << message;
  EXPECT_THROW(tok.decode_piece(-1, -1), InputError);
}

// Random texts, the fast encoder against llama2.c's loop.
TEST(TokenizerLlama2c, FastEncodeEqualsReferenceOnRandomAndRealText) {
  const std::string stories = read_text_file(data_path("tinystories-valid.txt"));
  const std::vector<std::string> alphabet = {"a",
                                             "b",
                                             "e",
                                             "t",
                                             "h",
                                             " ",
                                             "  ",
                                             "\n",
                                             ".",
                                             ",",
                                             "the",
                                             " the",
                                             "\xC3\xA9",
                                             "\xE2\x80\x9C",
                                             "\xF0\x9F\x98\x80",
                                             "\xE6\x97\xA5",
                                             "\x80",
                                             "\xFF",
                                             "<0x",
                                             "41>",
                                             "<s>",
                                             "aaaa",
                                             "ll",
                                             "o"};
  std::mt19937 rng(42);
  for (const char* file : {"tok512.bin", "tokenizer_llama2_32000.bin"}) {
    Llama2cTokenizer tok(data_path(file));
    const size_t max_len = std::string(file) == "tok512.bin" ? 900 : 400;
    for (int round = 0; round < 150; ++round) {
      std::string text;
      const size_t len = rng() % max_len;
      if (round % 3 == 0) {
        text = stories.substr(rng() % (stories.size() - len), len);
      } else if (round % 3 == 1) {
        for (size_t i = 0; i < len / 4; ++i) text.push_back(static_cast<char>(rng() % 256));  // NULs included
      } else {
        while (text.size() < len) text += alphabet[rng() % alphabet.size()];
      }
      const bool bos = round % 4 != 0;
      const auto ids = tok.encode(text, bos);
      ASSERT_EQ(ids, tok.encode_reference(text, bos)) << file << " round " << round << ": " << text;
      ASSERT_EQ(tok.decode(ids), bos || text.empty() ? text : " " + text) << file << " round " << round;
    }
  }
}

// A vocabulary where many merges share a score, so that the leftmost-on-ties rule decides often.
TEST(TokenizerLlama2c, FastEncodeEqualsReferenceWithManyTiedScores) {
  std::mt19937 rng(7);
  const std::string letters = "ab c";
  BinBuilder b = standard_prefix(4);
  std::vector<std::string> pieces = {" ", "a", "b", "c"};
  for (size_t len = 2; len <= 4; ++len) {
    for (int code = 0; code < (1 << (2 * len)); ++code) {
      std::string s;
      for (size_t k = 0; k < len; ++k) s += letters[(code >> (2 * k)) & 3];
      if (rng() % 4 != 0) pieces.push_back(s);  // leave holes so that some merges are impossible
    }
  }
  for (const auto& p : pieces) b.token(p, -static_cast<float>(rng() % 3));
  Llama2cTokenizer tok(b.data(), b.bytes.size(), "ties.bin", 0);
  for (int round = 0; round < 400; ++round) {
    std::string text;
    const size_t len = rng() % 120;
    for (size_t i = 0; i < len; ++i) text += letters[rng() % letters.size()];
    ASSERT_EQ(tok.encode(text, true), tok.encode_reference(text, true)) << text;
  }
}

TEST(TokenizerLlama2c, ScoreAtOrBelowMinusTenBillionNeverMerges) {
  BinBuilder b = standard_prefix(2);
  b.token(" ", 0);
  b.token("a", 0);
  b.token("aa", -1e10f);  // llama2.c's search starts at -1e10 with '>': never chosen
  b.token(" a", -5);
  Llama2cTokenizer tok(b.data(), b.bytes.size(), "floor.bin", 0);
  EXPECT_EQ(tok.encode("aa", false), (std::vector<int>{262, 260}));
  EXPECT_EQ(tok.encode_reference("aa", false), (std::vector<int>{262, 260}));
}

TEST(TokenizerLlama2c, WholeTinyStoriesValidation) {
  Llama2cTokenizer tok(data_path("tok512.bin"), 512);
  const std::string text = read_text_file(data_path("tinystories-valid.txt"));
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text, true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ info ] tinystories-valid.txt: %zu bytes -> %zu tok512 tokens in %.3f s\n", text.size(), ids.size(),
              seconds);
  RecordProperty("tokens", static_cast<int>(ids.size()));
  EXPECT_GT(ids.size(), 380000u);
  EXPECT_LT(ids.size(), 400000u);
  EXPECT_EQ(tok.decode(ids), text);
  // Paragraph by paragraph the reference agrees as well (whole-text O(n^2) would take hours).
  size_t pos = 0;
  for (int k = 0; k < 20 && pos < text.size(); ++k) {
    const size_t end = std::min(text.find("\n\n", pos), text.size());
    const std::string paragraph = text.substr(pos, end - pos);
    ASSERT_EQ(tok.encode(paragraph, true), tok.encode_reference(paragraph, true)) << paragraph;
    pos = end + 2;
  }
}

TEST(TokenizerLlama2c, RejectsMalformedFiles) {
  const auto message = [](const BinBuilder& b, int vocab) {
    return expect_input_error([&] { Llama2cTokenizer tok(b.data(), b.bytes.size(), "bad.bin", vocab); });
  };
  {
    BinBuilder b(4);
    b.token("ab", 0);
    b.put(1.0f);
    b.put(int32_t{-3});
    const std::string m = message(b, 0);
    EXPECT_NE(m.find("bad.bin: byte 18: token 1 has negative length -3"), std::string::npos) << m;
  }
  {
    BinBuilder b(2);
    b.token("abc", 0);
    const std::string m = message(b, 0);
    EXPECT_NE(m.find("bad.bin: byte 8: token 0 has length 3 but max_token_length is 2"), std::string::npos) << m;
  }
  {
    BinBuilder b(8);
    b.token("abcd", 0);
    b.bytes.resize(b.bytes.size() - 2);  // the piece's bytes run past the end
    const std::string m = message(b, 0);
    EXPECT_NE(m.find("bad.bin: byte 12: bytes of token 0 needs 4 bytes but only 2 remain"), std::string::npos) << m;
  }
  {
    BinBuilder b(8);
    b.token("abcd", 0);
    b.bytes += "\x01\x02";  // half a score
    const std::string m = message(b, 0);
    EXPECT_NE(m.find("bad.bin: byte 16: score of token 1"), std::string::npos) << m;
  }
  {
    BinBuilder b(8);
    b.token("a", 0);
    const std::string m = message(b, 3);
    EXPECT_NE(m.find("bad.bin: byte 13: file ends after 1 tokens but the model's vocab_size is 3"), std::string::npos)
        << m;
  }
  {
    BinBuilder b(8);
    b.token("a", 0);
    b.token("b", 0);
    const std::string m = message(b, 1);
    EXPECT_NE(m.find("bad.bin: byte 13: 9 bytes follow the 1 tokens"), std::string::npos) << m;
  }
  {
    BinBuilder b(-1);
    EXPECT_NE(message(b, 0).find("max_token_length -1 is negative"), std::string::npos);
  }
  {
    BinBuilder b(4);
    EXPECT_NE(message(b, 0).find("no tokens"), std::string::npos);
  }
  {
    BinBuilder b(4);
    b.bytes.resize(2);
    EXPECT_NE(message(b, 0).find("bad.bin: byte 0: max_token_length"), std::string::npos);
  }
  // The real file with the wrong vocab size names the file.
  const std::string m = expect_input_error([] { Llama2cTokenizer tok(data_path("tok512.bin"), 600); });
  EXPECT_NE(m.find("tok512.bin: byte 6227: file ends after 512 tokens but the model's vocab_size is 600"),
            std::string::npos)
      << m;
  EXPECT_THROW(Llama2cTokenizer(data_path("no-such-tokenizer.bin")), InputError);
}

TEST(TokenizerLlama2c, VocabularyWithoutByteTokensReportsTheByte) {
  BinBuilder b(5);
  b.token("<unk>", 0);
  b.token(" ", 0);
  b.token("a", 0);
  Llama2cTokenizer tok(b.data(), b.bytes.size(), "tiny.bin", 0);
  EXPECT_EQ(tok.encode("a", false), (std::vector<int>{1, 2}));
  const std::string m = expect_input_error([&] { tok.encode("z", false); });
  EXPECT_NE(m.find("tiny.bin: byte 0x7A"), std::string::npos) << m;
}

}  // namespace
}  // namespace quantscope
