// The llama2.c tokenizer.bin: int32 max_token_length, then per token float32 score, int32 byte length,
// bytes. The vocabulary size is not stored; the model's config gives it. Encoding reproduces
// karpathy/llama2.c run.c encode() token for token (see encode_reference()) in O(n log n).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace quantscope {

class Llama2cTokenizer final : public Tokenizer {
 public:
  // Reads `path`. vocab_size > 0 reads exactly that many tokens and rejects trailing bytes (a
  // tokenizer for another model); vocab_size <= 0 reads tokens until the end of the file.
  // Throws InputError naming the file and byte offset of a truncated or inconsistent entry.
  explicit Llama2cTokenizer(const std::string& path, int vocab_size = 0);
  // The same from bytes in memory; `name` stands for the file in messages.
  Llama2cTokenizer(const uint8_t* data, uint64_t size, const std::string& name, int vocab_size);

  // llama2.c encode(text, bos, eos=0): BOS (id 1), a dummy-prefix " " token when text is non-empty,
  // one token per UTF-8 codepoint (bytes + 3 when the codepoint is not a piece), then repeatedly the
  // adjacent pair whose concatenation is a piece with the highest score (leftmost on ties) is merged.
  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  // The same result by llama2.c's own O(n^2) loop: the reference encode() is tested against.
  std::vector<int> encode_reference(std::string_view text, bool add_bos) const;
  // llama2.c decode(): after BOS a leading space is dropped; "<0xXX>" pieces are the raw byte.
  std::string decode_piece(int prev, int token) const override;

  int vocab_size() const override { return static_cast<int>(pieces_.size()); }
  int bos_id() const override { return vocab_size() > 1 ? 1 : -1; }
  int eos_id() const override { return vocab_size() > 2 ? 2 : -1; }
  std::string kind() const override { return "llama2c"; }
  std::string source() const override { return source_; }

  int max_token_length() const { return max_token_length_; }
  const std::string& piece(int id) const { return pieces_.at(id); }
  float score(int id) const { return scores_.at(id); }
  // The id of a piece, -1 if none (the lowest id when a piece occurs twice).
  int piece_id(std::string_view piece) const;

 private:
  void parse(const uint8_t* data, uint64_t size, int vocab_size);
  // The initial token sequence (BOS, dummy prefix, codepoints / byte fallback) before merging.
  std::vector<int> initial_tokens(std::string_view text, bool add_bos) const;
  int byte_token(uint8_t byte) const;
  // The merged piece for (a, b) when it is a mergeable piece, else -1; uses `buffer` as scratch.
  int merge_id(int a, int b, std::string& buffer) const;

  std::string source_;
  int max_token_length_ = 0;
  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  std::unordered_map<std::string_view, int> index_;  // views into pieces_, which never reallocates after parse
};

}  // namespace quantscope
