// Text <-> token ids. Implementations: llama2.c tokenizer.bin (llama2c_tokenizer.h), SentencePiece
// tokenizer.model (sentencepiece_tokenizer.h), Hugging Face tokenizer.json byte-level BPE
// (hf_bpe_tokenizer.h). load_tokenizer() picks one for a model path.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quantscope {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Encodes text; prepends BOS when add_bos (and the tokenizer has one).
  virtual std::vector<int> encode(std::string_view text, bool add_bos) const = 0;
  // The bytes that token `token` contributes when it follows `prev` (streaming decode: some
  // tokenizers drop a leading space after BOS, and byte tokens decode to raw bytes).
  virtual std::string decode_piece(int prev, int token) const = 0;
  // Whole-sequence decode (BOS/EOS are not printed).
  virtual std::string decode(const std::vector<int>& ids) const;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 if none
  virtual int eos_id() const = 0;  // -1 if none
  // "llama2c", "sentencepiece", "hf-bpe" and the file it came from.
  virtual std::string kind() const = 0;
  virtual std::string source() const = 0;
};

// Finds and loads the tokenizer for a model:
//  - explicit_path (non-empty) wins: tokenizer.bin (llama2.c), tokenizer.model, tokenizer.json;
//  - a directory: tokenizer.json, else tokenizer.model;
//  - a llama2.c .bin checkpoint: tokenizer.bin or tok<vocab>.bin beside it.
// Returns nullptr when none is found (the caller decides whether that is an error).
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path, const std::string& explicit_path,
                                          int vocab_size_hint);

}  // namespace quantscope
