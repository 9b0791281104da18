// model.safetensors.index.json beside one valid shard, read the way a sharded Hugging Face directory
// is: the index's weight_map names shard files (untrusted paths) that must agree with their contents.
#include <cstring>
#include <string>

#include "formats/safetensors.h"
#include "fuzz_input.h"

using namespace quantscope;

namespace {
// A real shard for the index to point at: one f32 tensor "a" of 2 elements.
void write_shard() {
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header;
  bytes += std::string(8, '\0');
  fuzz::write_input("model-00001-of-00001.safetensors", reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  write_shard();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::write_input("model.safetensors.index.json", data, size);
  fuzz::expect_input_errors_only([&] { fuzz::touch_views(read_safetensors_dir(fuzz::scratch_dir())); });
  return 0;
}
