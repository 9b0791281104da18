// A Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, Llama-3, Qwen2 style). Supported:
//   normalizer     null | NFC | Sequence of those
//   pre_tokenizer  ByteLevel | Split (Regex or String pattern, Isolated or Removed) | Sequence of those,
//                  with a ByteLevel somewhere; regexes run through PCRE2 with UTF and UCP
//   model          BPE with vocab + merges ("a b" strings or [a, b] pairs), ignore_merges, unk_token
//   added_tokens   matched (leftmost, longest) before pre-tokenization; lstrip / rstrip / single_word
//   post_processor null | ByteLevel | TemplateProcessing | Sequence of those (applied when add_bos)
//   decoder        ByteLevel | Sequence of ByteLevel
// Anything else is an InputError naming the JSON field, rather than silently tokenizing differently.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace quantscope {

class HfBpeTokenizer final : public Tokenizer {
 public:
  // Parses tokenizer.json at `path`. Throws InputError naming the file and field.
  explicit HfBpeTokenizer(const std::string& path);
  // Parses JSON text; `name` stands for the file in messages.
  HfBpeTokenizer(std::string_view json_text, const std::string& name);
  ~HfBpeTokenizer() override;

  // add_bos applies the TemplateProcessing "single" template (as HF add_special_tokens=True does), or
  // prepends bos_id() when there is no template. Added tokens in the text are always recognized.
  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  // Byte-level decoding: the token's characters mapped back to bytes; an added token is its content.
  std::string decode_piece(int prev, int token) const override;

  int vocab_size() const override;  // 1 + the largest id in vocab and added_tokens
  // BOS: the special token the "single" template puts first; EOS: an added special token with a
  // conventional name (<|end_of_text|>, <|endoftext|>, </s>, <|im_end|>, <eos>), in that order. A
  // tokenizer_config.json overrides both (apply_tokenizer_config).
  int bos_id() const override;
  int eos_id() const override;
  std::string kind() const override { return "hf-bpe"; }
  std::string source() const override;

  // Takes bos_token / eos_token (a string or {"content": ...}) from a tokenizer_config.json.
  void apply_tokenizer_config(const std::string& path);
  // The id of a vocab or added token (in its byte-level form, e.g. "Ġthe"), -1 when absent.
  int token_to_id(std::string_view token) const;
  // The token string of an id (byte-level form for vocab tokens), "" when the id has none.
  std::string id_to_token(int id) const;
  // The words BPE sees for text without added tokens: normalized and pre-tokenized, as raw bytes
  // (before the byte-to-unicode mapping). For tests and diagnostics.
  std::vector<std::string> pre_tokenize(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace quantscope
