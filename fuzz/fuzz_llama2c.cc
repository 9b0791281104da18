// A llama2.c checkpoint (legacy or version-1 header), then the model built from it.
#include "formats/llama2c.h"
#include "fuzz_input.h"
#include "model/llama2c_model.h"
#include "model/model.h"

using namespace quantscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("model.bin", data, size);
  fuzz::expect_input_errors_only([&] { fuzz::touch_views(read_llama2c(path).tensors); });
  fuzz::expect_input_errors_only([&] { load_llama2c_model(path, LoadOptions{}); });
  return 0;
}
