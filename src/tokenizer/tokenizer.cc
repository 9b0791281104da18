#include "tokenizer/tokenizer.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "tokenizer/hf_bpe_tokenizer.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace quantscope {

namespace fs = std::filesystem;

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  std::string text;
  int prev = -1;
  for (int id : ids) {
    if (id < 0 || (id != bos_id() && id != eos_id())) text += decode_piece(prev, id);
    prev = id;
  }
  return text;
}

namespace {

enum class Format { Llama2c, SentencePiece, HfJson };

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The format of a tokenizer file: by extension first (the names the tools write), else by content.
Format detect_format(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  if (ends_with(name, ".json")) return Format::HfJson;
  if (ends_with(name, ".model")) return Format::SentencePiece;
  if (ends_with(name, ".bin")) return Format::Llama2c;
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input("{}: cannot open tokenizer: {}", path, std::strerror(errno));
  unsigned char head[16] = {};
  in.read(reinterpret_cast<char*>(head), sizeof(head));
  const auto n = static_cast<size_t>(in.gcount());
  size_t i = 0;
  if (n >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF) i = 3;  // UTF-8 byte order mark
  while (i < n && (head[i] == ' ' || head[i] == '\n' || head[i] == '\r' || head[i] == '\t')) ++i;
  if (i < n && head[i] == '{') return Format::HfJson;
  // A ModelProto starts with field 1 (pieces, length-delimited: 0x0A, varint length), whose first field
  // is again 1 (the piece string: 0x0A). A llama2.c file starts with a small int32 max_token_length.
  if (n >= 3 && head[0] == 0x0A) {
    size_t p = 1;
    while (p < n && (head[p] & 0x80)) ++p;
    if (p + 1 < n && head[p + 1] == 0x0A) return Format::SentencePiece;
  }
  if (n >= 4 && head[2] == 0 && head[3] == 0) return Format::Llama2c;
  fail_input(
      "{}: cannot tell the tokenizer format (expected a tokenizer.json, a SentencePiece tokenizer.model "
      "or a llama2.c tokenizer.bin)",
      path);
}

std::unique_ptr<Tokenizer> load_file(const std::string& path, int vocab_size_hint) {
  switch (detect_format(path)) {
    case Format::Llama2c:
      return std::make_unique<Llama2cTokenizer>(path, vocab_size_hint);
    case Format::SentencePiece:
      return std::make_unique<SentencePieceTokenizer>(path);
    case Format::HfJson: {
      auto tokenizer = std::make_unique<HfBpeTokenizer>(path);
      // bos/eos names live in tokenizer_config.json beside tokenizer.json when there is one.
      const fs::path config = fs::path(path).parent_path() / "tokenizer_config.json";
      std::error_code ec;
      if (fs::is_regular_file(config, ec)) tokenizer->apply_tokenizer_config(config.string());
      return tokenizer;
    }
  }
  return nullptr;
}

// The first of `names` that exists in `dir`, or "".
std::string find_in(const fs::path& dir, const std::vector<std::string>& names) {
  std::error_code ec;
  for (const auto& name : names) {
    const fs::path candidate = dir / name;
    if (fs::is_regular_file(candidate, ec)) return candidate.string();
  }
  return "";
}

std::string find_in_directory(const fs::path& dir, int vocab_size_hint) {
  std::vector<std::string> names = {"tokenizer.json", "tokenizer.model", "tokenizer.bin"};
  if (vocab_size_hint > 0) names.push_back(fmt::format("tok{}.bin", vocab_size_hint));
  return find_in(dir, names);
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& model_path, const std::string& explicit_path,
                                          int vocab_size_hint) {
  std::error_code ec;
  if (!explicit_path.empty()) {
    if (fs::is_directory(explicit_path, ec)) {
      const std::string found = find_in_directory(explicit_path, vocab_size_hint);
      if (found.empty())
        fail_input("{}: no tokenizer.json, tokenizer.model or tokenizer.bin in this directory", explicit_path);
      return load_file(found, vocab_size_hint);
    }
    if (!fs::exists(explicit_path, ec)) fail_input("{}: tokenizer file not found", explicit_path);
    return load_file(explicit_path, vocab_size_hint);
  }
  if (model_path.empty()) return nullptr;
  if (fs::is_directory(model_path, ec)) {
    const std::string found = find_in_directory(model_path, vocab_size_hint);
    return found.empty() ? nullptr : load_file(found, vocab_size_hint);
  }
  // A checkpoint file: a llama2.c .bin has its tokenizer beside it (the one named for the vocabulary
  // size first, as llama2.c's tokenizer exports name them); any other file's directory is searched too.
  const fs::path dir = fs::path(model_path).parent_path().empty() ? fs::path(".") : fs::path(model_path).parent_path();
  std::string found;
  if (ends_with(model_path, ".bin")) {
    std::vector<std::string> names;
    if (vocab_size_hint > 0) names.push_back(fmt::format("tok{}.bin", vocab_size_hint));
    names.push_back("tokenizer.bin");
    found = find_in(dir, names);
  }
  if (found.empty()) found = find_in(dir, {"tokenizer.json", "tokenizer.model"});
  return found.empty() ? nullptr : load_file(found, vocab_size_hint);
}

}  // namespace quantscope
