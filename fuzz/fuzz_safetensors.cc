// One .safetensors file: the u64 header length, the JSON header, the tensors' offsets into the data.
#include "formats/safetensors.h"
#include "fuzz_input.h"

using namespace quantscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("model.safetensors", data, size);
  fuzz::expect_input_errors_only([&] {
    SafetensorsMetadata meta;
    fuzz::touch_views(read_safetensors_file(path, &meta));
  });
  return 0;
}
