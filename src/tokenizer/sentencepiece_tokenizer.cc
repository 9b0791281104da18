#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

#include <filesystem>

#include "core/error.h"
#include "core/mapped_file.h"

namespace quantscope {

namespace {

constexpr std::string_view kSpaceSymbol = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

std::string replace_space_symbol(std::string_view piece) {
  std::string out;
  out.reserve(piece.size());
  for (size_t pos = 0; pos < piece.size();) {
    if (piece.substr(pos, kSpaceSymbol.size()) == kSpaceSymbol) {
      out.push_back(' ');
      pos += kSpaceSymbol.size();
    } else {
      out.push_back(piece[pos++]);
    }
  }
  return out;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path)
    : source_(path), processor_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  // Read the bytes ourselves: a missing file then gets the project's usual message, and the library
  // only ever sees the serialized proto.
  if (std::filesystem::is_directory(path)) fail_input("{}: is a directory, expected a SentencePiece .model file", path);
  const std::string bytes = read_text_file(path);
  sentencepiece::util::Status status;
  try {
    status = processor_->LoadFromSerializedProto(bytes);
  } catch (const std::exception& e) {
    // The library reports most bad models by status, but its trie builder throws on some (a unigram
    // model with an empty piece: "failed to insert key: zero-length key"; found by fuzz_sentencepiece).
    fail_input("{}: not a valid SentencePiece model ({} bytes): {}", path, bytes.size(), e.what());
  }
  if (!status.ok())
    fail_input("{}: not a valid SentencePiece model ({} bytes): {}", path, bytes.size(), status.ToString());
  if (processor_->GetPieceSize() <= 0) fail_input("{}: the SentencePiece model has no pieces", path);
  // Whether the decoder drops the first piece's leading space depends on normalizer_spec
  // (add_dummy_prefix / remove_extra_whitespaces), which the public header does not expose: ask the
  // library by decoding one ordinary piece that starts with "▁".
  for (int id = 0; id < processor_->GetPieceSize(); ++id) {
    if (processor_->IsControl(id) || processor_->IsUnknown(id) || processor_->IsByte(id)) continue;
    const std::string& piece = processor_->IdToPiece(id);
    if (piece.size() <= kSpaceSymbol.size() || piece.compare(0, kSpaceSymbol.size(), kSpaceSymbol) != 0) continue;
    std::string text;
    if (processor_->Decode(std::vector<int>{id}, &text).ok()) strips_leading_space_ = text.empty() || text[0] != ' ';
    break;
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

void SentencePieceTokenizer::check_id(int id) const {
  if (id < 0 || id >= processor_->GetPieceSize())
    fail_input("{}: token id {} is outside the vocabulary (0..{})", source_, id, processor_->GetPieceSize() - 1);
}

std::vector<int> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  const auto status = processor_->Encode(absl::string_view(text.data(), text.size()), &ids);
  if (!status.ok()) fail_internal("{}: SentencePiece could not encode the text: {}", source_, status.ToString());
  if (add_bos && bos_id() >= 0) ids.insert(ids.begin(), bos_id());
  return ids;
}

std::string SentencePieceTokenizer::decode_piece(int prev, int token) const {
  check_id(token);
  if (processor_->IsControl(token)) return "";
  if (processor_->IsUnknown(token)) {
    std::string text;
    if (!processor_->Decode(std::vector<int>{token}, &text).ok()) return " \xE2\x81\x87 ";
    return text;
  }
  const std::string& piece = processor_->IdToPiece(token);
  if (processor_->IsByte(token)) {
    // Byte pieces are "<0xXX>".
    return std::string(1, static_cast<char>(std::stoi(piece.substr(3, 2), nullptr, 16)));
  }
  std::string_view view = piece;
  const bool at_start = prev < 0 || (prev < processor_->GetPieceSize() && processor_->IsControl(prev));
  if (at_start && strips_leading_space_ && view.substr(0, kSpaceSymbol.size()) == kSpaceSymbol)
    view.remove_prefix(kSpaceSymbol.size());
  return replace_space_symbol(view);
}

std::string SentencePieceTokenizer::decode(const std::vector<int>& ids) const {
  for (int id : ids) check_id(id);
  std::string text;
  const auto status = processor_->Decode(ids, &text);
  if (!status.ok()) fail_internal("{}: SentencePiece could not decode: {}", source_, status.ToString());
  return text;
}

int SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int SentencePieceTokenizer::bos_id() const { return processor_->bos_id(); }
int SentencePieceTokenizer::eos_id() const { return processor_->eos_id(); }

std::string SentencePieceTokenizer::id_to_piece(int id) const {
  check_id(id);
  return processor_->IdToPiece(id);
}

int SentencePieceTokenizer::piece_to_id(std::string_view piece) const {
  return processor_->PieceToId(absl::string_view(piece.data(), piece.size()));
}

}  // namespace quantscope
