// A SentencePiece tokenizer.model through load_tokenizer (the path every command takes), then
// encoding and decoding. libsentencepiece itself is not instrumented: coverage counts our wrapper only.
#include "fuzz_input.h"
#include "fuzz_tokenizer_use.h"
#include "tokenizer/tokenizer.h"

using namespace quantscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("tokenizer.model", data, size);
  fuzz::expect_input_errors_only([&] {
    auto tok = load_tokenizer("", path, 0);
    if (tok) fuzz::encode_and_decode(*tok);
  });
  return 0;
}
