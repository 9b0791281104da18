// An AscendV1 description (quant_model_description.json) over a fixed, consistent directory: the
// config and weights of a tiny exported openPangu-Embedded model (fuzz/ascend_v1_base/, written by
// scripts/make_fuzz_seeds.py: W8A8 static, W8A8_DYNAMIC, W4A16 per group, C8 KV cache). What
// `quantscope inspect` does: read it and list every inconsistency. `import` refuses any directory
// with one and then only rebuilds through the quantized-model loader, which the fuzz library leaves
// out (quant/ is a third of its compile time); import's own checks are the unit tests'.
#include <filesystem>
#include <string>

#include "fuzz_input.h"
#include "interop/ascend_v1_check.h"

using namespace quantscope;

namespace fs = std::filesystem;

namespace {
const std::string& ascend_dir() {
  static const std::string dir = fuzz::scratch_dir() + "/ascend";
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  fs::create_directories(ascend_dir());
  for (const char* name : {"config.json", "quant_model_weights.safetensors"})
    fs::copy_file(fs::path(QUANTSCOPE_FUZZ_ASCEND_BASE) / name, fs::path(ascend_dir()) / name,
                  fs::copy_options::overwrite_existing);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::write_input("ascend/quant_model_description.json", data, size);
  fuzz::expect_input_errors_only([&] {
    const AscendV1Contents a = open_ascend_v1(ascend_dir());
    fuzz::touch_views(a.tensors);
    ascend_v1_issues(a);
  });
  return 0;
}
