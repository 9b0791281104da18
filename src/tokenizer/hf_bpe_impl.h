// The state of a loaded tokenizer.json (HfBpeTokenizer's pimpl), shared by the two files that use it:
// hf_bpe_loader.cc builds it from the JSON, hf_bpe_tokenizer.cc encodes and decodes with it.
// Internal to src/tokenizer/.
#pragma once

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fmt/format.h>
#include <pcre2.h>

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "tokenizer/hf_bpe_tokenizer.h"

namespace quantscope {

struct RegexDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
using Regex = std::unique_ptr<pcre2_code, RegexDeleter>;


struct HfBpeTokenizer::Impl {
  std::string source;

  // Model.
  std::unordered_map<std::string, int> vocab;                // byte-level token -> id
  std::vector<std::string> tokens;                           // id -> token ("" where an id has none)
  std::vector<int> added_index;                              // id -> index into added, -1 for model tokens
  std::unordered_map<uint64_t, std::pair<int, int>> merges;  // (left id, right id) -> (rank, merged id)
  int unk_id = -1;
  bool fuse_unk = false;
  bool ignore_merges = false;
  std::array<std::string, 256> byte_chars;           // the byte-level character of each byte, UTF-8
  std::array<int, 256> byte_ids{};                   // its vocab id, -1 if absent
  std::unordered_map<uint32_t, uint8_t> char_bytes;  // inverse mapping for decoding

  // Normalizer.
  bool nfc = false;

  // Pre-tokenizer: Split steps, then the ByteLevel one.
  struct Split {
    Regex regex;
    bool removed = false;  // behavior Removed (else Isolated)
    bool invert = false;
  };
  std::vector<Split> splits;
  bool byte_level_prefix_space = false;
  Regex byte_level_regex;  // set when ByteLevel use_regex

  // Added tokens.
  struct Added {
    int id;
    std::string content;
    bool single_word, lstrip, rstrip, special;
  };
  std::vector<Added> added;
  std::array<std::vector<int>, 256> added_by_first_byte;  // indices into added, longest content first

  // Post-processor and special ids.
  bool has_template = false;
  std::vector<int> template_prefix, template_suffix;
  int bos = -1, eos = -1;

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    fail_input("{}: {}: {}", source, field, message);
  }

  // Loading (hf_bpe_loader.cc).
  Regex compile(const std::string& pattern, bool literal, const std::string& field) const;

  // Ids index a dense table, so an id far beyond the number of entries is not a vocabulary but a
  // request for gigabytes (found by fuzz_tokenizer_json: one id of ~1.2e9 asked for 43 GB). Real
  // tokenizers number their entries 0..N-1 with at most a few holes; the slack allows those.
  int64_t id_limit = 0;
  int checked_id(int64_t id, const std::string& field) const {
    if (id < 0) fail(field, fmt::format("negative id {}", id));
    if (id >= id_limit)
      fail(field, fmt::format("id {} is far beyond the {} tokens the file defines (ids must be dense)", id,
                              (id_limit - 1024) / 2));
    return static_cast<int>(id);
  }
  void set_token(int id, const std::string& token) {
    if (id >= static_cast<int>(tokens.size())) {
      tokens.resize(id + 1);
      added_index.resize(id + 1, -1);
    }
    tokens[id] = token;
  }

  void parse(const nlohmann::json& root);
  void parse_model(const nlohmann::json& model);
  void parse_normalizer(const nlohmann::json& node, const std::string& field);
  void parse_pre_tokenizer(const nlohmann::json& node, const std::string& field, bool& seen_byte_level, bool last);
  void parse_post_processor(const nlohmann::json& node, const std::string& field);
  void parse_decoder(const nlohmann::json& node, const std::string& field);
  void parse_added_tokens(const nlohmann::json& node);

  // Encoding (hf_bpe_tokenizer.cc).
  // Splits every piece of `pieces` at the matches of regex (HF Split with Isolated / Removed).
  static std::vector<std::string> split(const std::vector<std::string>& pieces, const pcre2_code* regex, bool removed,
                                        bool invert);
  std::vector<std::string> pre_tokenize(std::string_view text) const;
  // BPE over one pre-tokenized word (raw bytes), appending ids to out.
  void bpe(std::string_view word, std::vector<int>& out) const;
  // Splits text at added tokens (leftmost, longest match, then the token's single_word / lstrip /
  // rstrip rules as HF AddedVocabulary::find_matches applies them) and encodes the rest.
  void encode_text(std::string_view text, std::vector<int>& out) const;
};

}  // namespace quantscope
