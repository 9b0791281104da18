// A llama2.c tokenizer.bin (read until the end of the input, as when the model's vocab size is
// unknown), then encoding and decoding with its pieces.
#include "fuzz_input.h"
#include "fuzz_tokenizer_use.h"
#include "tokenizer/llama2c_tokenizer.h"

using namespace quantscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_input_errors_only([&] {
    const Llama2cTokenizer tok(data, size, "tokenizer.bin", 0);
    fuzz::encode_and_decode(tok);
  });
  return 0;
}
