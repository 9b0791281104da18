// Encoding and decoding with a loaded tokenizer.json (hf_bpe_impl.h): normalizer, pre-tokenizer
// splits, byte-level BPE with merges by rank, added tokens with their matching rules, post-processor.
#include "tokenizer/hf_bpe_tokenizer.h"

#include <algorithm>
#include <cstring>
#include <queue>

#include "tokenizer/hf_bpe_impl.h"
#include "tokenizer/utf8.h"

namespace quantscope {

namespace {


struct MatchDataDeleter {
  void operator()(pcre2_match_data* data) const { pcre2_match_data_free(data); }
};

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

std::vector<std::string> HfBpeTokenizer::Impl::split(const std::vector<std::string>& pieces, const pcre2_code* regex,
                                                     bool removed, bool invert) {
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

std::vector<std::string> HfBpeTokenizer::Impl::pre_tokenize(std::string_view text) const {
  std::vector<std::string> pieces{nfc ? utf8_nfc(text) : std::string(text)};
  if (pieces[0].empty()) return {};
  for (const Split& s : splits) pieces = split(pieces, s.regex.get(), s.removed, s.invert);
  if (byte_level_prefix_space)
    for (std::string& piece : pieces)
      if (piece.empty() || piece[0] != ' ') piece.insert(piece.begin(), ' ');
  if (byte_level_regex) pieces = split(pieces, byte_level_regex.get(), false, false);
  return pieces;
}

void HfBpeTokenizer::Impl::bpe(std::string_view word, std::vector<int>& out) const {
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

void HfBpeTokenizer::Impl::encode_text(std::string_view text, std::vector<int>& out) const {
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
