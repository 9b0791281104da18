// A SentencePiece tokenizer.model (openPangu, Llama-2 style), encoded and decoded by libsentencepiece
// with the model's own normalizer and dummy-prefix settings.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace quantscope {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Loads a serialized ModelProto. Throws InputError naming the file when it is missing or not a model.
  explicit SentencePieceTokenizer(const std::string& path);
  ~SentencePieceTokenizer() override;

  // The library's Encode (no BOS/EOS of its own); BOS is prepended when add_bos and the model has one.
  std::vector<int> encode(std::string_view text, bool add_bos) const override;
  // Streaming form of the library's decoding: "▁" -> " ", byte pieces -> the raw byte, control
  // pieces -> "", <unk> -> the model's unknown surface (" ⁇ "), and the leading space of the first
  // piece is dropped when the model adds a dummy prefix (prev < 0, or prev is a control piece like BOS).
  std::string decode_piece(int prev, int token) const override;
  // The library's Decode: identical to concatenating decode_piece except that byte pieces forming
  // malformed UTF-8 become U+FFFD there.
  std::string decode(const std::vector<int>& ids) const override;

  int vocab_size() const override;
  int bos_id() const override;
  int eos_id() const override;
  std::string kind() const override { return "sentencepiece"; }
  std::string source() const override { return source_; }

  // The piece string of an id (with "▁" for spaces) and its id (unk_id() when unknown).
  std::string id_to_piece(int id) const;
  int piece_to_id(std::string_view piece) const;

 private:
  void check_id(int id) const;

  std::string source_;
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
  bool strips_leading_space_ = true;
};

}  // namespace quantscope
