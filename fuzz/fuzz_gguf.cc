// A GGUF file: header, metadata, tensor table, then (as `quantscope info/ppl` do) the llama model
// built from it, with quantized blocks dequantized or repacked.
#include <vector>

#include "formats/gguf.h"
#include "fuzz_input.h"
#include "model/gguf_model.h"
#include "model/model.h"

using namespace quantscope;

namespace {
// Dequantizes the first and last row of every tensor: reads the bytes the tensor table promised.
void touch_rows(const GgufFile& f) {
  std::vector<float> row;
  for (const GgufTensor& t : f.tensors) {
    if (t.numel == 0 || t.cols() <= 0 || t.cols() > (1 << 20)) continue;
    row.resize(static_cast<size_t>(t.cols()));
    gguf_dequantize_rows(t, 0, 1, row.data());
    gguf_dequantize_rows(t, t.rows() - 1, 1, row.data());
  }
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("model.gguf", data, size);
  fuzz::expect_input_errors_only([&] { touch_rows(read_gguf(path)); });
  fuzz::expect_input_errors_only([&] { load_gguf_model(path, LoadOptions{}); });
  return 0;
}
