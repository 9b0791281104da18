#include "tokenizer/hf_bpe_tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>
#include <queue>
#include <unordered_map>

#include "core/json_document.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/utf8.h"

namespace quantscope {

using json = nlohmann::json;

namespace {

// The pattern ByteLevel splits with when use_regex is true (GPT-2's).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct RegexDeleter {
  void operator()(pcre2_code* code) const { pcre2_code_free(code); }
};
using Regex = std::unique_ptr<pcre2_code, RegexDeleter>;

struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes map in
// increasing order to U+0100.. so that every byte is a visible character.
std::array<uint32_t, 256> byte_to_codepoint_table() {
  std::array<uint32_t, 256> table{};
  uint32_t extra = 0;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    table[b] = printable ? b : 256 + extra++;
  }
  return table;
}

// Whitespace and word characters as Rust's char::is_whitespace / is_alphanumeric see them, for the
// added-token lstrip / rstrip / single_word rules. Non-ASCII letters count as word characters.
bool is_space_cp(uint32_t cp) {
  return cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_word_cp(uint32_t cp) {
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
  return cp != kUtf8Invalid && !is_space_cp(cp);
}

// The last codepoint of s and where it starts (kUtf8Invalid when s is empty or ends malformed).
uint32_t last_codepoint(std::string_view s, size_t* start_out = nullptr) {
  if (s.empty()) return kUtf8Invalid;
  size_t start = s.size() - 1;
  while (start > 0 && s.size() - start < 4 && utf8_is_continuation(static_cast<uint8_t>(s[start]))) --start;
  size_t pos = start;
  const uint32_t cp = utf8_decode(s, pos);
  if (start_out) *start_out = start;
  return pos == s.size() ? cp : kUtf8Invalid;
}

}  // namespace

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

  Regex compile(const std::string& pattern, bool literal, const std::string& field) const {
    int error = 0;
    PCRE2_SIZE offset = 0;
    // HF runs Oniguruma over Unicode text: UTF and UCP give \s, \w, \p{..} and (?i) their Unicode
    // meaning. MATCH_INVALID_UTF lets malformed input through: such bytes match nothing and end up in
    // the gaps between matches, which byte-level BPE still encodes.
    // PCRE2_LITERAL does not combine with UCP (and needs no character classes).
    const uint32_t options = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    Regex regex(
        pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error, &offset, nullptr));
    if (!regex) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof(message));
      fail(field, fmt::format("regex does not compile at offset {}: {}", offset, reinterpret_cast<char*>(message)));
    }
    pcre2_jit_compile(regex.get(), PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter is the fallback
    return regex;
  }

  // Splits every piece of `pieces` at the matches of regex (HF Split with Isolated / Removed).
  static std::vector<std::string> split(const std::vector<std::string>& pieces, const pcre2_code* regex, bool removed,
                                        bool invert) {
    std::vector<std::string> out;
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> match(pcre2_match_data_create_from_pattern(regex, nullptr));
    for (const std::string& piece : pieces) {
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t prev = 0, pos = 0;
      const auto emit = [&](size_t begin, size_t end, bool is_match) {
        if (invert) is_match = !is_match;
        if (end > begin && !(removed && is_match)) out.emplace_back(piece.substr(begin, end - begin));
      };
      while (pos <= piece.size()) {
        int rc = pcre2_match(regex, subject, piece.size(), pos, 0, match.get(), nullptr);
        // JIT code runs on a fixed 32 KiB stack; the interpreter keeps its backtracking on the heap.
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
          rc = pcre2_match(regex, subject, piece.size(), pos, PCRE2_NO_JIT, match.get(), nullptr);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) fail_internal("PCRE2 match failed with code {}", rc);
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        const size_t begin = ov[0], end = ov[1];
        if (end == begin) {  // an empty match splits nothing; step over one character
          pos = begin + 1;
          while (pos < piece.size() && utf8_is_continuation(static_cast<uint8_t>(piece[pos]))) ++pos;
          continue;
        }
        emit(prev, begin, false);
        emit(begin, end, true);
        prev = pos = end;
      }
      emit(prev, piece.size(), false);
    }
    return out;
  }

  std::vector<std::string> pre_tokenize(std::string_view text) const {
    std::vector<std::string> pieces{nfc ? utf8_nfc(text) : std::string(text)};
    if (pieces[0].empty()) return {};
    for (const Split& s : splits) pieces = split(pieces, s.regex.get(), s.removed, s.invert);
    if (byte_level_prefix_space)
      for (std::string& piece : pieces)
        if (piece.empty() || piece[0] != ' ') piece.insert(piece.begin(), ' ');
    if (byte_level_regex) pieces = split(pieces, byte_level_regex.get(), false, false);
    return pieces;
  }

  // BPE over one pre-tokenized word (raw bytes), appending ids to out.
  void bpe(std::string_view word, std::vector<int>& out) const {
    if (word.empty()) return;
    if (ignore_merges) {
      std::string mapped;
      for (char c : word) mapped += byte_chars[static_cast<uint8_t>(c)];
      auto it = vocab.find(mapped);
      if (it != vocab.end()) {
        out.push_back(it->second);
        return;
      }
    }
    std::vector<int> ids;
    ids.reserve(word.size());
    for (char c : word) {
      const int id = byte_ids[static_cast<uint8_t>(c)];
      if (id >= 0) {
        ids.push_back(id);
      } else if (unk_id >= 0 && !(fuse_unk && !ids.empty() && ids.back() == unk_id)) {
        ids.push_back(unk_id);
      }  // without unk_token HF drops a character the vocabulary lacks
    }
    const int n = static_cast<int>(ids.size());
    if (n < 2) {
      out.insert(out.end(), ids.begin(), ids.end());
      return;
    }
    // Lowest merge rank first, leftmost on ties (HF Word::merge_all), over a linked list with versions
    // to recognise pairs that changed since they were queued.
    std::vector<int> next(n), prev(n);
    std::vector<uint32_t> version(n, 0);
    for (int i = 0; i < n; ++i) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    struct Candidate {
      int rank, left, right, id;
      uint32_t left_version, right_version;
      bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
    const auto push = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      auto it = merges.find(static_cast<uint64_t>(static_cast<uint32_t>(ids[left])) << 32 |
                            static_cast<uint32_t>(ids[right]));
      if (it != merges.end())
        heap.push({it->second.first, left, right, it->second.second, version[left], version[right]});
    };
    for (int i = 0; i + 1 < n; ++i) push(i, i + 1);
    while (!heap.empty()) {
      const Candidate c = heap.top();
      heap.pop();
      if (version[c.left] != c.left_version || version[c.right] != c.right_version || next[c.left] != c.right) continue;
      ids[c.left] = c.id;
      ++version[c.left];
      version[c.right] = 0xFFFFFFFFu;
      next[c.left] = next[c.right];
      if (next[c.right] >= 0) prev[next[c.right]] = c.left;
      push(prev[c.left], c.left);
      push(c.left, next[c.left]);
    }
    for (int i = 0; i >= 0; i = next[i]) out.push_back(ids[i]);
  }

  // Splits text at added tokens (leftmost, longest match, then the token's single_word / lstrip /
  // rstrip rules as HF AddedVocabulary::find_matches applies them) and encodes the rest.
  void encode_text(std::string_view text, std::vector<int>& out) const {
    size_t segment_start = 0, pos = 0;
    const auto encode_segment = [&](size_t begin, size_t end) {
      if (end <= begin) return;
      for (const std::string& word : pre_tokenize(text.substr(begin, end - begin))) bpe(word, out);
    };
    while (pos < text.size()) {
      const auto& candidates = added_by_first_byte[static_cast<uint8_t>(text[pos])];
      const Added* found = nullptr;
      for (int index : candidates) {
        const Added& a = added[index];
        if (text.substr(pos, a.content.size()) == a.content) {
          found = &a;
          break;
        }
      }
      if (!found) {
        ++pos;
        continue;
      }
      size_t start = pos, stop = pos + found->content.size();
      pos = stop;
      if (found->single_word) {
        const bool word_before = start > 0 && is_word_cp(last_codepoint(text.substr(0, start)));
        size_t after = stop;
        const bool word_after = stop < text.size() && is_word_cp(utf8_decode(text, after));
        if (word_before || word_after) continue;
      }
      if (found->lstrip) {
        while (start > segment_start) {
          size_t cp_start = 0;
          const uint32_t cp = last_codepoint(text.substr(0, start), &cp_start);
          if (cp == kUtf8Invalid || !is_space_cp(cp) || cp_start < segment_start) break;
          start = cp_start;
        }
      }
      if (found->rstrip) {
        while (stop < text.size()) {
          size_t next = stop;
          const uint32_t cp = utf8_decode(text, next);
          if (cp == kUtf8Invalid || !is_space_cp(cp)) break;
          stop = next;
        }
        pos = stop;
      }
      encode_segment(segment_start, start);
      out.push_back(found->id);
      segment_start = stop;
    }
    encode_segment(segment_start, text.size());
  }

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

  void parse(const json& root);
  void parse_model(const json& model);
  void parse_normalizer(const json& node, const std::string& field);
  void parse_pre_tokenizer(const json& node, const std::string& field, bool& seen_byte_level, bool last);
  void parse_post_processor(const json& node, const std::string& field);
  void parse_decoder(const json& node, const std::string& field);
  void parse_added_tokens(const json& node);
};

namespace {

const json& field_of(const json& object, const char* key) {
  static const json null_value;
  auto it = object.find(key);
  return it == object.end() ? null_value : *it;
}

std::string type_of(const json& node) {
  const json& type = field_of(node, "type");
  return type.is_string() ? type.get<std::string>() : std::string();
}

}  // namespace

void HfBpeTokenizer::Impl::parse(const json& root) {
  if (!root.is_object()) fail("(top level)", "expected a JSON object");
  const json& model = field_of(root, "model");
  const json& added_node = field_of(root, "added_tokens");
  const int64_t entries = int64_t(model.is_object() && field_of(model, "vocab").is_object() ? field_of(model, "vocab").size() : 0) +
                          int64_t(added_node.is_array() ? added_node.size() : 0);
  id_limit = 2 * entries + 1024;
  parse_model(model);
  parse_added_tokens(added_node);
  parse_normalizer(field_of(root, "normalizer"), "normalizer");
  bool seen_byte_level = false;
  parse_pre_tokenizer(field_of(root, "pre_tokenizer"), "pre_tokenizer", seen_byte_level, true);
  if (!seen_byte_level)
    fail("pre_tokenizer", "no ByteLevel pre-tokenizer: only byte-level BPE tokenizer.json files are supported");
  parse_post_processor(field_of(root, "post_processor"), "post_processor");
  parse_decoder(field_of(root, "decoder"), "decoder");

  // EOS by convention; tokenizer_config.json can say otherwise.
  for (const char* name : {"<|end_of_text|>", "<|endoftext|>", "</s>", "<|im_end|>", "<eos>"}) {
    auto it = std::find_if(added.begin(), added.end(), [&](const Added& a) { return a.special && a.content == name; });
    if (it != added.end()) {
      eos = it->id;
      break;
    }
  }
}

void HfBpeTokenizer::Impl::parse_model(const json& model) {
  if (!model.is_object()) fail("model", "missing or not an object");
  const std::string type = type_of(model);
  if (type != "BPE") fail("model.type", fmt::format("'{}' is not supported (expected BPE)", type));
  const json& vocab_node = field_of(model, "vocab");
  if (!vocab_node.is_object()) fail("model.vocab", "missing or not an object of token -> id");
  for (auto it = vocab_node.begin(); it != vocab_node.end(); ++it) {
    if (!it.value().is_number_integer()) fail("model.vocab", fmt::format("token '{}': id is not an integer", it.key()));
    const int id = checked_id(it.value().get<int64_t>(), fmt::format("model.vocab['{}']", it.key()));
    set_token(id, it.key());
    vocab.emplace(it.key(), id);
  }
  if (vocab.empty()) fail("model.vocab", "is empty");

  const json& merges_node = field_of(model, "merges");
  if (!merges_node.is_array()) fail("model.merges", "missing or not an array");
  merges.reserve(merges_node.size() * 2);
  for (size_t rank = 0; rank < merges_node.size(); ++rank) {
    const json& m = merges_node[rank];
    const std::string field = fmt::format("model.merges[{}]", rank);
    std::string left, right;
    if (m.is_string()) {  // "a b" (older files)
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos)
        fail(field, fmt::format("'{}' is not two tokens separated by one space", s));
      left = s.substr(0, space), right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {  // ["a", "b"]
      left = m[0].get<std::string>(), right = m[1].get<std::string>();
    } else {
      fail(field, "expected \"a b\" or [\"a\", \"b\"]");
    }
    const auto l = vocab.find(left), r = vocab.find(right), merged = vocab.find(left + right);
    if (l == vocab.end() || r == vocab.end() || merged == vocab.end())
      fail(field, fmt::format("'{}' + '{}': {} is not in model.vocab", left, right,
                              l == vocab.end()   ? "'" + left + "'"
                              : r == vocab.end() ? "'" + right + "'"
                                                 : "the merged token '" + left + right + "'"));
    const uint64_t key =
        static_cast<uint64_t>(static_cast<uint32_t>(l->second)) << 32 | static_cast<uint32_t>(r->second);
    merges.emplace(key, std::pair<int, int>(static_cast<int>(rank), merged->second));  // first rank wins
  }

  const json& dropout = field_of(model, "dropout");
  if (!dropout.is_null() && !(dropout.is_number() && dropout.get<double>() == 0.0))
    fail("model.dropout", "BPE dropout is not supported (tokenization must be deterministic)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json& v = field_of(model, key);
    if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty()))
      fail(fmt::format("model.{}", key), "is not supported with byte-level BPE");
  }
  if (field_of(model, "byte_fallback").is_boolean() && field_of(model, "byte_fallback").get<bool>())
    fail("model.byte_fallback",
         "byte_fallback BPE (SentencePiece-style tokenizer.json) is not supported; "
         "use the model's tokenizer.model");
  fuse_unk = field_of(model, "fuse_unk").is_boolean() && field_of(model, "fuse_unk").get<bool>();
  ignore_merges = field_of(model, "ignore_merges").is_boolean() && field_of(model, "ignore_merges").get<bool>();
  const json& unk = field_of(model, "unk_token");
  if (unk.is_string()) {
    auto it = vocab.find(unk.get<std::string>());
    if (it == vocab.end()) fail("model.unk_token", fmt::format("'{}' is not in model.vocab", unk.get<std::string>()));
    unk_id = it->second;
  } else if (!unk.is_null()) {
    fail("model.unk_token", "expected a string or null");
  }

  const auto table = byte_to_codepoint_table();
  for (int b = 0; b < 256; ++b) {
    byte_chars[b].clear();
    utf8_append(byte_chars[b], table[b]);
    char_bytes[table[b]] = static_cast<uint8_t>(b);
    auto it = vocab.find(byte_chars[b]);
    byte_ids[b] = it == vocab.end() ? -1 : it->second;
  }
}

void HfBpeTokenizer::Impl::parse_added_tokens(const json& node) {
  if (node.is_null()) return;
  if (!node.is_array()) fail("added_tokens", "expected an array");
  for (size_t i = 0; i < node.size(); ++i) {
    const json& t = node[i];
    const std::string field = fmt::format("added_tokens[{}]", i);
    if (!t.is_object() || !field_of(t, "id").is_number_integer() || !field_of(t, "content").is_string())
      fail(field, "expected an object with an integer id and a string content");
    const auto flag = [&](const char* key) { return field_of(t, key).is_boolean() && field_of(t, key).get<bool>(); };
    Added a{checked_id(t["id"].get<int64_t>(), field + ".id"), t["content"].get<std::string>(), flag("single_word"), flag("lstrip"), flag("rstrip"),
            flag("special")};
    if (a.content.empty()) fail(field + ".content", "is empty");
    set_token(a.id, a.content);
    added_index[a.id] = static_cast<int>(added.size());
    added.push_back(std::move(a));
  }
  for (size_t i = 0; i < added.size(); ++i)
    added_by_first_byte[static_cast<uint8_t>(added[i].content[0])].push_back(static_cast<int>(i));
  for (auto& list : added_by_first_byte)
    std::stable_sort(list.begin(), list.end(),
                     [&](int a, int b) { return added[a].content.size() > added[b].content.size(); });
}

void HfBpeTokenizer::Impl::parse_normalizer(const json& node, const std::string& field) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  if (type == "NFC") {
    nfc = true;
  } else if (type == "Sequence") {
    const json& list = field_of(node, "normalizers");
    if (!list.is_array()) fail(field + ".normalizers", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) parse_normalizer(list[i], fmt::format("{}.normalizers[{}]", field, i));
  } else {
    fail(field + ".type", fmt::format("normalizer '{}' is not supported (supported: NFC, Sequence)", type));
  }
}

void HfBpeTokenizer::Impl::parse_pre_tokenizer(const json& node, const std::string& field, bool& seen_byte_level,
                                               bool last) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  if (seen_byte_level) fail(field + ".type", fmt::format("'{}' after ByteLevel is not supported", type));
  if (type == "Sequence") {
    const json& list = field_of(node, "pretokenizers");
    if (!list.is_array()) fail(field + ".pretokenizers", "expected an array");
    for (size_t i = 0; i < list.size(); ++i)
      parse_pre_tokenizer(list[i], fmt::format("{}.pretokenizers[{}]", field, i), seen_byte_level,
                          last && i + 1 == list.size());
  } else if (type == "Split") {
    const json& pattern = field_of(node, "pattern");
    Split split;
    if (pattern.is_object() && field_of(pattern, "Regex").is_string()) {
      split.regex = compile(pattern["Regex"].get<std::string>(), false, field + ".pattern.Regex");
    } else if (pattern.is_object() && field_of(pattern, "String").is_string()) {
      const std::string literal = pattern["String"].get<std::string>();
      if (literal.empty()) fail(field + ".pattern.String", "is empty");
      split.regex = compile(literal, true, field + ".pattern.String");
    } else {
      fail(field + ".pattern", "expected {\"Regex\": ...} or {\"String\": ...}");
    }
    const json& behavior = field_of(node, "behavior");
    const std::string b = behavior.is_string() ? behavior.get<std::string>() : "";
    if (b == "Removed") {
      split.removed = true;
    } else if (b != "Isolated") {
      fail(field + ".behavior", fmt::format("'{}' is not supported (supported: Isolated, Removed)", b));
    }
    split.invert = field_of(node, "invert").is_boolean() && field_of(node, "invert").get<bool>();
    splits.push_back(std::move(split));
  } else if (type == "ByteLevel") {
    seen_byte_level = true;
    // HF's defaults for a ByteLevel without these fields: add_prefix_space true, use_regex true.
    const json& prefix = field_of(node, "add_prefix_space");
    const json& use_regex = field_of(node, "use_regex");
    byte_level_prefix_space = prefix.is_boolean() ? prefix.get<bool>() : true;
    if (use_regex.is_boolean() ? use_regex.get<bool>() : true)
      byte_level_regex = compile(std::string(kGpt2Pattern), false, field + ".use_regex");
  } else {
    fail(field + ".type",
         fmt::format("pre-tokenizer '{}' is not supported (supported: ByteLevel, Split, Sequence)", type));
  }
}

void HfBpeTokenizer::Impl::parse_post_processor(const json& node, const std::string& field) {
  if (node.is_null()) return;
  const std::string type = type_of(node);
  if (type == "ByteLevel") return;  // only trims offsets; ids are unchanged
  if (type == "Sequence") {
    const json& list = field_of(node, "processors");
    if (!list.is_array()) fail(field + ".processors", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) parse_post_processor(list[i], fmt::format("{}.processors[{}]", field, i));
    return;
  }
  if (type != "TemplateProcessing")
    fail(
        field + ".type",
        fmt::format("post-processor '{}' is not supported (supported: TemplateProcessing, ByteLevel, Sequence)", type));
  if (has_template) fail(field, "more than one TemplateProcessing");
  has_template = true;
  const json& single = field_of(node, "single");
  const json& specials = field_of(node, "special_tokens");
  if (!single.is_array()) fail(field + ".single", "expected an array");
  bool seen_sequence = false;
  for (size_t i = 0; i < single.size(); ++i) {
    const json& piece = single[i];
    const std::string item = fmt::format("{}.single[{}]", field, i);
    if (piece.is_object() && field_of(piece, "Sequence").is_object()) {
      const json& id = field_of(piece["Sequence"], "id");
      if (!id.is_string() || id.get<std::string>() != "A")
        fail(item + ".Sequence.id", "the single-sequence template can only hold sequence A");
      if (seen_sequence) fail(item, "sequence A appears twice");
      seen_sequence = true;
    } else if (piece.is_object() && field_of(piece, "SpecialToken").is_object()) {
      const json& name = field_of(piece["SpecialToken"], "id");
      if (!name.is_string()) fail(item + ".SpecialToken.id", "expected a string");
      const json& entry = specials.is_object() ? field_of(specials, name.get<std::string>().c_str()) : json();
      const json& ids = entry.is_object() ? field_of(entry, "ids") : json();
      if (!ids.is_array()) fail(field + ".special_tokens", fmt::format("no ids for '{}'", name.get<std::string>()));
      for (const json& id : ids) {
        if (!id.is_number_integer()) fail(field + ".special_tokens", "ids must be integers");
        (seen_sequence ? template_suffix : template_prefix).push_back(id.get<int>());
      }
    } else {
      fail(item, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    }
  }
  if (!seen_sequence) fail(field + ".single", "has no Sequence A");
  if (!template_prefix.empty()) bos = template_prefix.front();
}

void HfBpeTokenizer::Impl::parse_decoder(const json& node, const std::string& field) {
  if (node.is_null()) fail(field, "missing: a byte-level tokenizer needs the ByteLevel decoder");
  const std::string type = type_of(node);
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const json& list = field_of(node, "decoders");
    if (!list.is_array() || list.empty()) fail(field + ".decoders", "expected a non-empty array");
    for (size_t i = 0; i < list.size(); ++i) parse_decoder(list[i], fmt::format("{}.decoders[{}]", field, i));
    return;
  }
  fail(field + ".type", fmt::format("decoder '{}' is not supported (supported: ByteLevel)", type));
}

HfBpeTokenizer::HfBpeTokenizer(const std::string& path) : HfBpeTokenizer(read_text_file(path), path) {}

HfBpeTokenizer::HfBpeTokenizer(std::string_view json_text, const std::string& name) : impl_(std::make_unique<Impl>()) {
  impl_->source = name;
  const json root = parse_json_document(json_text, name);
  try {
    impl_->parse(root);
  } catch (const json::exception& e) {  // a field of an unexpected type that the checks above missed
    fail_input("{}: unexpected tokenizer.json structure: {}", name, e.what());
  }
}

HfBpeTokenizer::~HfBpeTokenizer() = default;

std::vector<int> HfBpeTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_bos) {
    if (impl_->has_template) {
      ids = impl_->template_prefix;
    } else if (impl_->bos >= 0) {
      ids.push_back(impl_->bos);
    }
  }
  impl_->encode_text(text, ids);
  if (add_bos && impl_->has_template)
    ids.insert(ids.end(), impl_->template_suffix.begin(), impl_->template_suffix.end());
  return ids;
}

std::string HfBpeTokenizer::decode_piece(int prev, int token) const {
  const Impl& m = *impl_;
  if (token < 0 || token >= vocab_size())
    fail_input("{}: token id {} is outside the vocabulary (0..{})", m.source, token, vocab_size() - 1);
  if (m.added_index[token] >= 0) return m.added[m.added_index[token]].content;
  const std::string& t = m.tokens[token];
  // HF's ByteLevel decoder: a token whose characters all belong to the byte alphabet becomes those
  // bytes; any other token is taken as its own UTF-8 text.
  std::string bytes;
  bytes.reserve(t.size());
  for (size_t pos = 0; pos < t.size();) {
    const uint32_t cp = utf8_decode(t, pos);
    auto it = m.char_bytes.find(cp);
    if (it == m.char_bytes.end()) return t;
    bytes.push_back(static_cast<char>(it->second));
  }
  return bytes;
}

int HfBpeTokenizer::vocab_size() const { return static_cast<int>(impl_->tokens.size()); }
int HfBpeTokenizer::bos_id() const { return impl_->bos; }
int HfBpeTokenizer::eos_id() const { return impl_->eos; }
std::string HfBpeTokenizer::source() const { return impl_->source; }

void HfBpeTokenizer::apply_tokenizer_config(const std::string& path) {
  const json root = parse_json_document(read_text_file(path), path);
  if (!root.is_object()) fail_input("{}: expected a JSON object", path);
  const auto resolve = [&](const char* key, int& target) {
    const json& v = field_of(root, key);
    std::string content;
    if (v.is_string()) {
      content = v.get<std::string>();
    } else if (v.is_object() && field_of(v, "content").is_string()) {
      content = v["content"].get<std::string>();
    } else if (v.is_null()) {
      return;
    } else {
      fail_input("{}: {}: expected a string, {{\"content\": ...}} or null", path, key);
    }
    const int id = token_to_id(content);
    if (id < 0) fail_input("{}: {}: '{}' is not a token of {}", path, key, content, impl_->source);
    target = id;
  };
  resolve("bos_token", impl_->bos);
  resolve("eos_token", impl_->eos);
}

int HfBpeTokenizer::token_to_id(std::string_view token) const {
  for (const auto& a : impl_->added)
    if (a.content == token) return a.id;
  auto it = impl_->vocab.find(std::string(token));
  return it == impl_->vocab.end() ? -1 : it->second;
}

std::string HfBpeTokenizer::id_to_token(int id) const {
  return id >= 0 && id < vocab_size() ? impl_->tokens[id] : std::string();
}

std::vector<std::string> HfBpeTokenizer::pre_tokenize(std::string_view text) const { return impl_->pre_tokenize(text); }

}  // namespace quantscope
