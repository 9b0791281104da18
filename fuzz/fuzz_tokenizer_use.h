// What every command does with a tokenizer once it is loaded: encode a prompt, decode the ids back.
#pragma once

#include "tokenizer/tokenizer.h"

namespace quantscope::fuzz {

inline void encode_and_decode(const Tokenizer& tok) {
  // ASCII, a multi-byte codepoint, a 4-byte one, and a byte that is not UTF-8 (byte fallback paths).
  static const char kText[] = "Once upon a time, caf\xc3\xa9 \xf0\x9f\x99\x82 \xff end.\n";
  const std::vector<int> ids = tok.encode(kText, true);
  tok.decode(ids);
}

}  // namespace quantscope::fuzz
