// Hugging Face tokenizer.json byte-level BPE, against goldens from the independent Python encoder in
// scripts/make_tokenizer_goldens.py (tokenizers in the Llama-3, Qwen2 and GPT-2 layouts).
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "core/error.h"
#include "core/mapped_file.h"
#include "test_util.h"
#include "tokenizer/hf_bpe_tokenizer.h"
#include "tokenizer/utf8.h"

namespace quantscope {
namespace {

using json = nlohmann::json;
using test::data_path;
using test::fixture_path;

std::string tok_path(const std::string& name) { return fixture_path("tokenizer/" + name); }

const json& goldens() {
  static const json g = json::parse(read_text_file(tok_path("hf_goldens.json")));
  return g;
}

TEST(TokenizerHfBpe, MatchesReferenceEncoderGoldens) {
  int checked = 0;
  for (const auto& [file, cases] : goldens()["files"].items()) {
    HfBpeTokenizer tok(tok_path(file));
    for (const auto& c : cases) {
      const std::string text = c["text"].get<std::string>();
      EXPECT_EQ(tok.encode(text, false), c["ids"].get<std::vector<int>>()) << file << ": " << text;
      EXPECT_EQ(tok.encode(text, true), c["ids_with_bos"].get<std::vector<int>>()) << file << ": " << text;
      if (c.contains("words")) {
        EXPECT_EQ(tok.pre_tokenize(text), c["words"].get<std::vector<std::string>>()) << file << ": " << text;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 60);
}

TEST(TokenizerHfBpe, SpecialIdsAndMetadata) {
  HfBpeTokenizer llama3(tok_path("hf_llama3.json"));
  EXPECT_EQ(llama3.kind(), "hf-bpe");
  EXPECT_EQ(llama3.vocab_size(), 620);
  EXPECT_EQ(llama3.bos_id(), 617);
  EXPECT_EQ(llama3.eos_id(), 618);  // <|end_of_text|>
  EXPECT_EQ(llama3.token_to_id("<|eot_id|>"), 619);
  EXPECT_EQ(llama3.token_to_id("\xC4\xA0supercalifragilistic"), 616);  // "Ġsupercalifragilistic"
  EXPECT_EQ(llama3.id_to_token(65), "A");
  EXPECT_EQ(llama3.id_to_token(32), "\xC4\xA0");  // the space byte's character, "Ġ"
  EXPECT_EQ(llama3.token_to_id("no such token"), -1);
  HfBpeTokenizer qwen2(tok_path("hf_qwen2.json"));
  EXPECT_EQ(qwen2.bos_id(), -1);  // no template: add_bos adds nothing
  EXPECT_EQ(qwen2.eos_id(), qwen2.token_to_id("<|endoftext|>"));
  EXPECT_EQ(qwen2.encode("hi", true), qwen2.encode("hi", false));
  HfBpeTokenizer gpt2(tok_path("hf_gpt2.json"));
  EXPECT_EQ(gpt2.eos_id(), 616);
}

TEST(TokenizerHfBpe, DecodeRoundTripsUtf8EmojiAndCjk) {
  const std::vector<std::string> extra = {
      "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 family",
      "\xE4\xB8\xAD\xE6\x96\x87\xE6\x96\x87\xE6\x9C\xAC\xE3\x80\x82 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
      "\xFF\xFE raw \x80 bytes \xC3", "", "\t\r\n \n"};
  for (const char* file : {"hf_llama3.json", "hf_qwen2.json", "hf_gpt2.json"}) {
    HfBpeTokenizer tok(tok_path(file));
    const bool nfc = std::string(file) == "hf_qwen2.json";
    std::vector<std::string> texts = extra;
    for (const auto& c : goldens()["files"][file]) {
      const std::string text = c["text"].get<std::string>();
      if (text.find("<|") == std::string::npos && text.find("<m") == std::string::npos) texts.push_back(text);
    }
    for (const auto& text : texts) {
      const std::string expected = nfc ? utf8_nfc(text) : text;
      for (bool bos : {false, true}) {
        const auto ids = tok.encode(text, bos);
        EXPECT_EQ(tok.decode(ids), expected) << file;
        std::string streamed;
        int prev = -1;
        for (int id : ids) {
          if (id != tok.bos_id()) streamed += tok.decode_piece(prev, id);
          prev = id;
        }
        EXPECT_EQ(streamed, expected) << file;
      }
    }
  }
}

TEST(TokenizerHfBpe, SpecialTokensAreMatchedBeforePreTokenization) {
  HfBpeTokenizer tok(tok_path("hf_llama3.json"));
  const auto ids = tok.encode("a<|eot_id|>b<|begin_of_text|>", false);
  ASSERT_EQ(ids.size(), 4u);
  EXPECT_EQ(ids[1], 619);
  EXPECT_EQ(ids[3], 617);
  EXPECT_EQ(tok.decode_piece(-1, 619), "<|eot_id|>");
  EXPECT_EQ(tok.decode(ids), "a<|eot_id|>b");  // BOS is not printed
  // Not special when incomplete.
  EXPECT_EQ(tok.decode(tok.encode("<|eot_id", false)), "<|eot_id");
  EXPECT_THROW(tok.decode_piece(-1, 620), InputError);
}

TEST(TokenizerHfBpe, TokenizerConfigOverridesSpecialIds) {
  test::TempDir dir;
  std::ofstream(dir.file("tokenizer_config.json")) << R"({"bos_token": null, "eos_token": {"content": "<|eot_id|>"}})";
  HfBpeTokenizer tok(tok_path("hf_llama3.json"));
  tok.apply_tokenizer_config(dir.file("tokenizer_config.json"));
  EXPECT_EQ(tok.bos_id(), 617);
  EXPECT_EQ(tok.eos_id(), 619);
  std::ofstream(dir.file("bad.json")) << R"({"eos_token": "<|nope|>"})";
  try {
    tok.apply_tokenizer_config(dir.file("bad.json"));
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("eos_token: '<|nope|>' is not a token"), std::string::npos) << e.what();
  }
}

// Each mutation of a valid file must fail with a message naming the JSON field.
TEST(TokenizerHfBpe, UnsupportedOrBrokenComponentsNameTheField) {
  const json base = json::parse(read_text_file(tok_path("hf_llama3.json")));
  const auto expect_error = [&](const std::function<void(json&)>& mutate, const std::string& needle) {
    json j = base;
    mutate(j);
    try {
      HfBpeTokenizer tok(j.dump(), "mutated.json");
      ADD_FAILURE() << "accepted; expected an error containing: " << needle;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("mutated.json: " + needle), std::string::npos) << e.what();
    }
  };
  expect_error([](json& j) { j["model"]["type"] = "WordPiece"; }, "model.type: 'WordPiece' is not supported");
  expect_error([](json& j) { j.erase("model"); }, "model: missing");
  expect_error([](json& j) { j["model"]["merges"][3] = "a"; }, "model.merges[3]");
  expect_error(
      [](json& j) {
        j["model"]["merges"][5] = json::array({"zzz", "q"});
      },
      "model.merges[5]: 'zzz' + 'q': 'zzz' is not in model.vocab");
  expect_error([](json& j) { j["model"]["vocab"]["x"] = "seven"; }, "model.vocab: token 'x': id is not an integer");
  expect_error([](json& j) { j["model"]["byte_fallback"] = true; }, "model.byte_fallback");
  expect_error([](json& j) { j["model"]["dropout"] = 0.1; }, "model.dropout");
  expect_error([](json& j) { j["model"]["continuing_subword_prefix"] = "##"; }, "model.continuing_subword_prefix");
  expect_error([](json& j) { j["normalizer"] = {{"type", "NFKC"}}; }, "normalizer.type: normalizer 'NFKC'");
  expect_error(
      [](json& j) {
        j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Lowercase"}}}}};
      },
      "normalizer.normalizers[0].type");
  expect_error([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["type"] = "Metaspace"; },
               "pre_tokenizer.pretokenizers[0].type: pre-tokenizer 'Metaspace' is not supported");
  expect_error([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed"; },
               "pre_tokenizer.pretokenizers[0].pattern.Regex: regex does not compile");
  expect_error([](json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "MergedWithPrevious"; },
               "pre_tokenizer.pretokenizers[0].behavior: 'MergedWithPrevious' is not supported");
  expect_error([](json& j) { j["pre_tokenizer"] = j["pre_tokenizer"]["pretokenizers"][0]; },
               "pre_tokenizer: no ByteLevel pre-tokenizer");
  expect_error(
      [](json& j) {
        j["pre_tokenizer"]["pretokenizers"].push_back({{"type", "Digits"}});
      },
      "pre_tokenizer.pretokenizers[2].type: 'Digits' after ByteLevel");
  expect_error(
      [](json& j) {
        j["post_processor"] = {{"type", "RobertaProcessing"}};
      },
      "post_processor.type: post-processor 'RobertaProcessing' is not supported");
  expect_error([](json& j) { j["post_processor"]["processors"][1]["special_tokens"] = json::object(); },
               "post_processor.processors[1].special_tokens: no ids for '<|begin_of_text|>'");
  expect_error([](json& j) { j["decoder"] = {{"type", "WordPiece"}}; }, "decoder.type: decoder 'WordPiece'");
  expect_error([](json& j) { j["decoder"] = nullptr; }, "decoder: missing");
  expect_error([](json& j) { j["added_tokens"][0].erase("content"); }, "added_tokens[0]: expected an object");
  expect_error([](json& j) { j["model"]["unk_token"] = "<nope>"; }, "model.unk_token: '<nope>' is not in model.vocab");
  // An id far beyond the entries asked for a table of that size (fuzz_tokenizer_json: 43 GB).
  expect_error([](json& j) { j["model"]["vocab"]["!"] = 1200000000; }, "model.vocab['!']: id 1200000000 is far beyond");
  expect_error([](json& j) { j["added_tokens"][0]["id"] = int64_t(1) << 40; }, "added_tokens[0].id: id 1099511627776 is far beyond");
  {
    const std::string found = read_text_file(test::source_path("fuzz/regressions/tokenizer_json/huge-id-26f884e8"));
    EXPECT_THROW(HfBpeTokenizer(std::string_view(found), "tokenizer.json"), InputError);
  }
  try {
    HfBpeTokenizer tok(std::string_view("{\"model\": [1, 2"), "broken.json");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("broken.json: not valid JSON"), std::string::npos) << e.what();
  }
  EXPECT_THROW(HfBpeTokenizer(tok_path("no-such-tokenizer.json")), InputError);
}

TEST(TokenizerHfBpe, AcceptsVariantsOfTheFormat) {
  json j = json::parse(read_text_file(tok_path("hf_gpt2.json")));
  // A Split with a literal String pattern and Removed behaviour drops the matches.
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"String", "--"}}}, {"behavior", "Removed"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}}}}};
  HfBpeTokenizer tok(j.dump(), "variant.json");
  EXPECT_EQ(tok.pre_tokenize("ab--cd"), (std::vector<std::string>{" ab", " cd"}));
  EXPECT_EQ(tok.pre_tokenize("x y"), (std::vector<std::string>{" x", " y"}));
}

TEST(TokenizerHfBpe, RandomBytesRoundTrip) {
  std::mt19937 rng(3);
  const std::string_view alphabet = " aZ9\n'\xC3\xA9\xE4\xB8\xAD<|!";  // 14 bytes: ASCII, UTF-8 pieces
  for (const char* file : {"hf_llama3.json", "hf_gpt2.json"}) {
    HfBpeTokenizer tok(tok_path(file));
    for (int round = 0; round < 200; ++round) {
      std::string text;
      const size_t len = rng() % 300;
      for (size_t i = 0; i < len; ++i)
        text.push_back(static_cast<char>(round % 2 ? rng() % 256 : alphabet[rng() % alphabet.size()]));
      ASSERT_EQ(tok.decode(tok.encode(text, true)), text) << file << " round " << round;
    }
  }
}

// Long runs of one character class make single huge regex matches and BPE words.
TEST(TokenizerHfBpe, LongRunsOfOneClass) {
  const std::string text = std::string(100000, ' ') + std::string(100000, 'a') + std::string(50000, '!') +
                           std::string(20000, '\n') + "\xE4\xB8\xAD" + std::string(30000, '7') + " end";
  for (const char* file : {"hf_llama3.json", "hf_qwen2.json", "hf_gpt2.json"}) {
    HfBpeTokenizer tok(tok_path(file));
    EXPECT_EQ(tok.decode(tok.encode(text, false)), text) << file;
  }
}

TEST(TokenizerHfBpe, EncodesTinyStoriesQuickly) {
  HfBpeTokenizer tok(tok_path("hf_llama3.json"));
  const std::string text = read_text_file(data_path("tinystories-valid.txt"));
  const auto start = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text, true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ info ] tinystories-valid.txt: %zu bytes -> %zu hf_llama3 tokens in %.3f s\n", text.size(), ids.size(),
              seconds);
  EXPECT_EQ(tok.decode(ids), text);
}

}  // namespace
}  // namespace quantscope
