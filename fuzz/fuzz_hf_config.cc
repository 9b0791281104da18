// A Hugging Face config.json, then the tensor registry its shapes imply.
#include <string>

#include "fuzz_input.h"
#include "model/hf_config.h"
#include "model/registry.h"

using namespace quantscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::expect_input_errors_only([&] {
    const ModelConfig c = parse_hf_config(std::string(fuzz::as_text(data, size)), "config.json");
    build_registry(c);
  });
  return 0;
}
