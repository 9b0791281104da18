#include "tokenizer/utf8.h"

#include <algorithm>
#include <vector>

namespace quantscope {

namespace {
#include "tokenizer/unicode_tables.inc"

// Hangul syllables are composed arithmetically (Unicode 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;
// Malformed input bytes travel through the algorithm as these values: starters that never compose.
constexpr uint32_t kRawByteBase = 0x110000;

int combining_class(uint32_t cp) {
  if (cp < 0x300 || cp >= kRawByteBase) return 0;
  auto it = std::upper_bound(std::begin(kCombiningClass), std::end(kCombiningClass), cp,
                             [](uint32_t v, const uint32_t(&r)[3]) { return v < r[0]; });
  if (it == std::begin(kCombiningClass)) return 0;
  --it;
  return cp <= (*it)[1] ? static_cast<int>((*it)[2]) : 0;
}

void decompose(uint32_t cp, std::vector<uint32_t>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (cp >= 0xC0 && cp < kRawByteBase) {
    auto it = std::lower_bound(std::begin(kDecomposition), std::end(kDecomposition), cp,
                               [](const uint32_t(&r)[3], uint32_t v) { return r[0] < v; });
    if (it != std::end(kDecomposition) && (*it)[0] == cp) {
      out.insert(out.end(), kDecompositionData + (*it)[1], kDecompositionData + (*it)[1] + (*it)[2]);
      return;
    }
  }
  out.push_back(cp);
}

// The primary composite of (a, b), or 0 when there is none.
uint32_t compose_pair(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  auto it = std::lower_bound(std::begin(kComposition), std::end(kComposition), std::pair{a, b},
                             [](const uint32_t(&r)[3], std::pair<uint32_t, uint32_t> v) {
                               return r[0] != v.first ? r[0] < v.first : r[1] < v.second;
                             });
  if (it != std::end(kComposition) && (*it)[0] == a && (*it)[1] == b) return (*it)[2];
  return 0;
}

}  // namespace

uint32_t utf8_decode(std::string_view s, size_t& pos) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  int len;
  uint32_t cp, min;
  if ((lead & 0xE0) == 0xC0) {
    len = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    len = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    len = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    ++pos;
    return kUtf8Invalid;
  }
  if (pos + len > s.size()) {
    ++pos;
    return kUtf8Invalid;
  }
  for (int i = 1; i < len; ++i) {
    if (!utf8_is_continuation(byte(pos + i))) {
      ++pos;
      return kUtf8Invalid;
    }
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++pos;
    return kUtf8Invalid;
  }
  pos += len;
  return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool utf8_valid(std::string_view s) {
  for (size_t pos = 0; pos < s.size();)
    if (utf8_decode(s, pos) == kUtf8Invalid) return false;
  return true;
}

std::string utf8_nfc(std::string_view s) {
  // Below U+0300 nothing decomposes or combines except Latin-1 letters, so pure ASCII is already NFC.
  if (std::all_of(s.begin(), s.end(), [](char c) { return static_cast<uint8_t>(c) < 0x80; })) return std::string(s);

  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  for (size_t pos = 0; pos < s.size();) {
    const size_t start = pos;
    const uint32_t cp = utf8_decode(s, pos);
    decompose(cp == kUtf8Invalid ? kRawByteBase + static_cast<uint8_t>(s[start]) : cp, cps);
  }
  // Canonical ordering: a stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < cps.size();) {
    if (combining_class(cps[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < cps.size() && combining_class(cps[j]) != 0) ++j;
    std::stable_sort(cps.begin() + i, cps.begin() + j,
                     [](uint32_t a, uint32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  // Canonical composition: a character joins the last starter unless something between them blocks it
  // (a starter, or a non-starter of the same or higher class).
  size_t out_len = 0, starter = 0;
  bool have_starter = false;
  int last_class = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    const uint32_t cp = cps[i];
    const int cc = combining_class(cp);
    // Between the starter and cp there are only non-starters (a starter would have become `starter`),
    // in ascending class order, so the last one's class decides whether cp is blocked.
    if (have_starter && (out_len == starter + 1 || last_class < cc)) {
      const uint32_t composite = compose_pair(cps[starter], cp);
      if (composite != 0) {
        cps[starter] = composite;
        continue;
      }
    }
    if (cc == 0) {
      starter = out_len;
      have_starter = true;
    }
    last_class = cc;
    cps[out_len++] = cp;
  }
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < out_len; ++i) {
    if (cps[i] >= kRawByteBase)
      out.push_back(static_cast<char>(cps[i] - kRawByteBase));
    else
      utf8_append(out, cps[i]);
  }
  return out;
}

const char* unicode_version() { return kUnicodeVersion; }

}  // namespace quantscope
