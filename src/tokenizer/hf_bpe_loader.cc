// Loading a Hugging Face tokenizer.json (and tokenizer_config.json) into HfBpeTokenizer::Impl: every
// component hf_bpe_tokenizer.h lists, each unknown or malformed one an InputError naming the field.
#include <algorithm>
#include <cstring>

#include "core/json_document.h"
#include "core/mapped_file.h"
#include "tokenizer/hf_bpe_impl.h"
#include "tokenizer/utf8.h"

namespace quantscope {

using json = nlohmann::json;

namespace {

// The pattern ByteLevel splits with when use_regex is true (GPT-2's).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

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

}  // namespace

Regex HfBpeTokenizer::Impl::compile(const std::string& pattern, bool literal, const std::string& field) const {
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

}  // namespace quantscope
