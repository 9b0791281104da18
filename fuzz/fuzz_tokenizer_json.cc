// A Hugging Face tokenizer.json (byte-level BPE; its pre-tokenizer regexes are compiled by PCRE2),
// then encoding and decoding.
#include "fuzz_input.h"
#include "fuzz_tokenizer_use.h"
#include "tokenizer/hf_bpe_tokenizer.h"

using namespace quantscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_input_errors_only([&] {
    const HfBpeTokenizer tok(fuzz::as_text(data, size), "tokenizer.json");
    fuzz::encode_and_decode(tok);
  });
  return 0;
}
