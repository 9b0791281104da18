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
  // tokenizers drop a leading space after BOS, and byte tokens decode to raw bytes). prev < 0 means
  // `token` starts the sequence. Throws InputError for an id outside the vocabulary.
  virtual std::string decode_piece(int prev, int token) const = 0;
  // Whole-sequence decode (BOS/EOS are not printed). Default: the concatenation of decode_piece over
  // the ids other than bos_id() / eos_id(), each with the id before it (BOS included) as prev.
  virtual std::string decode(const std::vector<int>& ids) const;
  virtual int vocab_size() const = 0;
  virtual int bos_id() const = 0;  // -1 if none
  virtual int eos_id() const = 0;  // -1 if none
  // "llama2c", "sentencepiece", "hf-bpe" and the file it came from.
  virtual std::string kind() const = 0;
  virtual std::string source() const = 0;
};

// Finds and loads the tokenizer for a model:
//  - explicit_path (non-empty) wins: tokenizer.bin (llama2.c), tokenizer.model, tokenizer.json; the
//    format comes from the extension (.bin, .model, .json), else from the content; a directory is
//    searched as below. A missing or unrecognizable explicit tokenizer is an InputError;
//  - a directory: tokenizer.json, else tokenizer.model, else tokenizer.bin, else tok<vocab>.bin;
//  - a llama2.c .bin checkpoint: tok<vocab>.bin or tokenizer.bin beside it; any checkpoint file
//    (also .safetensors, .gguf): tokenizer.json, else tokenizer.model beside it.
// A tokenizer.json picks up bos/eos names from a tokenizer_config.json beside it. vocab_size_hint
// (the model's vocab size, <= 0 when unknown) is how many entries a llama2.c tokenizer must hold.
// Returns nullptr when none is found (the caller decides whether that is an error); a tokenizer file
// that is found but malformed is an InputError naming it.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path, const std::string& explicit_path,
                                          int vocab_size_hint);

}  // namespace quantscope
