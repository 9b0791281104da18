// Small UTF-8 helpers shared by the tokenizers. Tokenizer input is untrusted bytes, so every helper
// defines what happens on malformed sequences instead of assuming valid text.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace quantscope {

inline bool utf8_is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// Decodes the codepoint starting at s[pos] and advances pos past it. A malformed sequence (bad lead
// byte, missing continuation, overlong form, surrogate, > U+10FFFF) consumes exactly one byte and
// returns kUtf8Invalid, so callers can fall back to raw bytes.
inline constexpr uint32_t kUtf8Invalid = 0xFFFFFFFFu;
uint32_t utf8_decode(std::string_view s, size_t& pos);

// Appends the UTF-8 form of codepoint cp (which must be <= U+10FFFF and not a surrogate).
void utf8_append(std::string& out, uint32_t cp);

// True when s is well-formed UTF-8 (no overlong forms, surrogates or codepoints past U+10FFFF).
bool utf8_valid(std::string_view s);

// Unicode Normalization Form C (canonical decomposition, canonical ordering, canonical composition)
// as the Hugging Face "NFC" normalizer applies it. Malformed bytes are passed through unchanged.
// Tables come from scripts/gen_unicode_tables.py (Unicode version in unicode_version()).
std::string utf8_nfc(std::string_view s);
const char* unicode_version();

}  // namespace quantscope
