#include "tokenizer/llama2c_tokenizer.h"

#include <algorithm>
#include <cmath>

#include "core/byte_reader.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/utf8.h"

namespace quantscope {

namespace {

// llama2.c starts its search for the best merge at this score with a strict '>', so a piece scored at
// or below it (or NaN) is never merged; the fast path keeps that rule.
constexpr float kMinMergeScore = -1e10f;

// "<0xXX>" with two hex digits -> the byte; -1 otherwise. llama2.c uses sscanf("<0x%02hhX>"), which
// also accepts malformed variants; no real vocabulary has those, and the strict form is the documented one.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (char c : piece.substr(3, 2)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return -1;
    }
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

Llama2cTokenizer::Llama2cTokenizer(const std::string& path, int vocab_size) : source_(path) {
  auto file = MappedFile::open(path);
  parse(file->data(), file->size(), vocab_size);
}

Llama2cTokenizer::Llama2cTokenizer(const uint8_t* data, uint64_t size, const std::string& name, int vocab_size)
    : source_(name) {
  parse(data, size, vocab_size);
}

void Llama2cTokenizer::parse(const uint8_t* data, uint64_t size, int vocab_size) {
  ByteReader reader(data, size, source_);
  max_token_length_ = reader.read<int32_t>("max_token_length (int32)");
  if (max_token_length_ < 0) fail_input("{}: byte 0: max_token_length {} is negative", source_, max_token_length_);
  const bool known = vocab_size > 0;
  if (known) {
    pieces_.reserve(vocab_size);
    scores_.reserve(vocab_size);
  }
  while (known ? static_cast<int>(pieces_.size()) < vocab_size : reader.remaining() > 0) {
    const size_t id = pieces_.size();
    const uint64_t entry = reader.offset();
    if (known && reader.remaining() == 0)
      fail_input("{}: byte {}: file ends after {} tokens but the model's vocab_size is {}", source_, entry, id,
                 vocab_size);
    const float score = reader.read<float>(fmt::format("score of token {} (float32)", id));
    const uint64_t length_at = reader.offset();
    const int32_t length = reader.read<int32_t>(fmt::format("length of token {} (int32)", id));
    if (length < 0) fail_input("{}: byte {}: token {} has negative length {}", source_, length_at, id, length);
    if (length > max_token_length_)
      fail_input("{}: byte {}: token {} has length {} but max_token_length is {}", source_, length_at, id, length,
                 max_token_length_);
    pieces_.push_back(reader.read_string(static_cast<uint64_t>(length), fmt::format("bytes of token {}", id)));
    scores_.push_back(score);
  }
  if (reader.remaining() > 0)
    fail_input("{}: byte {}: {} bytes follow the {} tokens of the model's vocab_size (tokenizer of another model?)",
               source_, reader.offset(), reader.remaining(), pieces_.size());
  if (pieces_.empty()) fail_input("{}: byte 4: the tokenizer has no tokens", source_);
  index_.reserve(pieces_.size() * 2);
  for (size_t i = 0; i < pieces_.size(); ++i) index_.emplace(pieces_[i], static_cast<int>(i));  // first id wins
}

int Llama2cTokenizer::piece_id(std::string_view piece) const {
  auto it = index_.find(piece);
  return it == index_.end() ? -1 : it->second;
}

int Llama2cTokenizer::byte_token(uint8_t byte) const {
  // llama2.c's byte fallback: ids 3..258 are <0x00>..<0xFF> (after <unk>, <s>, </s>).
  const int id = byte + 3;
  if (id >= vocab_size())
    fail_input("{}: byte 0x{:02X} of the text is no piece and the vocabulary ({} tokens) has no byte fallback token",
               source_, byte, vocab_size());
  return id;
}

std::vector<int> Llama2cTokenizer::initial_tokens(std::string_view text, bool add_bos) const {
  std::vector<int> tokens;
  tokens.reserve(text.size() + 2);
  if (add_bos && bos_id() >= 0) tokens.push_back(bos_id());
  if (!text.empty()) {
    // llama2.c looks " " up without checking; a vocabulary without it gets the byte token instead of -1.
    const int space = piece_id(" ");
    tokens.push_back(space >= 0 ? space : byte_token(' '));
  }
  // Codepoints as llama2.c splits them: a lead or ASCII byte starts a group, at most 3 continuation
  // bytes join it (stray continuation bytes group together the same way).
  char group[4];
  size_t group_len = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<uint8_t>(text[i]);
    if (!utf8_is_continuation(byte)) group_len = 0;
    group[group_len++] = text[i];
    if (i + 1 < text.size() && utf8_is_continuation(static_cast<uint8_t>(text[i + 1])) && group_len < 4) continue;
    const int id = piece_id(std::string_view(group, group_len));
    if (id >= 0) {
      tokens.push_back(id);
    } else {
      for (size_t k = 0; k < group_len; ++k) tokens.push_back(byte_token(static_cast<uint8_t>(group[k])));
    }
    group_len = 0;
  }
  return tokens;
}

int Llama2cTokenizer::merge_id(int a, int b, std::string& buffer) const {
  buffer.assign(pieces_[a]);
  buffer.append(pieces_[b]);
  const int id = piece_id(buffer);
  return id >= 0 && scores_[id] > kMinMergeScore ? id : -1;
}

std::vector<int> Llama2cTokenizer::encode_reference(std::string_view text, bool add_bos) const {
  std::vector<int> tokens = initial_tokens(text, add_bos);
  std::string buffer;
  for (;;) {
    float best_score = kMinMergeScore;
    int best_id = -1;
    size_t best_index = 0;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      const int id = merge_id(tokens[i], tokens[i + 1], buffer);
      if (id >= 0 && scores_[id] > best_score) {
        best_score = scores_[id];
        best_id = id;
        best_index = i;
      }
    }
    if (best_id < 0) break;
    tokens[best_index] = best_id;
    tokens.erase(tokens.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
  }
  return tokens;
}

std::vector<int> Llama2cTokenizer::encode(std::string_view text, bool add_bos) const {
  // The tokens form a linked list; a heap holds every adjacent pair that can merge, best first by
  // (score desc, position asc). Positions are the original indices of the left nodes: merging keeps the
  // left node, so their order is the order of the current sequence and "leftmost" means the same as in
  // llama2.c's scan. A merge changes a node's token, so each node carries a version; a heap entry whose
  // nodes changed since it was pushed is stale and skipped. Every current mergeable pair always has
  // exactly one live entry, hence each pop makes the choice llama2.c's O(n^2) scan makes.
  std::vector<int> tokens = initial_tokens(text, add_bos);
  const int n = static_cast<int>(tokens.size());
  if (n < 2) return tokens;
  std::vector<int> prev(n), next(n);
  std::vector<uint32_t> version(n, 0);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    float score;
    int left, right, id;
    uint32_t left_version, right_version;
  };
  const auto lower_priority = [](const Candidate& a, const Candidate& b) {
    return a.score != b.score ? a.score < b.score : a.left > b.left;
  };
  std::vector<Candidate> heap;
  heap.reserve(static_cast<size_t>(n));
  std::string buffer;
  const auto candidate = [&](int left, int right) {
    if (left < 0 || right < 0) return false;
    const int id = merge_id(tokens[left], tokens[right], buffer);
    if (id < 0) return false;
    heap.push_back({scores_[id], left, right, id, version[left], version[right]});
    return true;
  };
  const auto push_pair = [&](int left, int right) {
    if (candidate(left, right)) std::push_heap(heap.begin(), heap.end(), lower_priority);
  };
  for (int i = 0; i + 1 < n; ++i) candidate(i, i + 1);
  std::make_heap(heap.begin(), heap.end(), lower_priority);  // O(n), cheaper than n pushes

  constexpr uint32_t kDead = 0xFFFFFFFFu;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), lower_priority);
    const Candidate c = heap.back();
    heap.pop_back();
    if (version[c.left] != c.left_version || version[c.right] != c.right_version || next[c.left] != c.right)
      continue;  // stale: one of the nodes was merged since this pair was pushed
    tokens[c.left] = c.id;
    ++version[c.left];
    version[c.right] = kDead;
    next[c.left] = next[c.right];
    if (next[c.right] >= 0) prev[next[c.right]] = c.left;
    push_pair(prev[c.left], c.left);
    push_pair(c.left, next[c.left]);
  }
  std::vector<int> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i >= 0; i = next[i]) out.push_back(tokens[i]);  // node 0 always survives (merges keep the left)
  return out;
}

std::string Llama2cTokenizer::decode_piece(int prev, int token) const {
  if (token < 0 || token >= vocab_size())
    fail_input("{}: token id {} is outside the vocabulary (0..{})", source_, token, vocab_size() - 1);
  std::string_view piece = pieces_[token];
  // As SentencePiece does, the space a piece starts with is dropped right after BOS (llama2.c PR #89).
  if (prev == bos_id() && prev >= 0 && !piece.empty() && piece[0] == ' ') piece.remove_prefix(1);
  const int byte = parse_byte_piece(piece);
  if (byte >= 0) return std::string(1, static_cast<char>(byte));
  return std::string(piece);
}

}  // namespace quantscope
