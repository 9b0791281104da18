// A study spec (`quantscope study plan|run S.json`): strict fields, the recipe grid expanded, recipe
// files read and validated, paths resolved against the spec's directory.
#include <filesystem>
#include <fstream>
#include <string>

#include "fuzz_input.h"
#include "study/study_spec.h"

using namespace quantscope;

namespace {
// The files a spec may name, created once in the scratch directory so a path that resolves reaches
// the checks after it (the seeds use these names). Their contents are not read by the spec parser,
// except the recipe file, which is parsed as a recipe.
void create_named_files() {
  namespace fs = std::filesystem;
  const fs::path d = fuzz::scratch_dir();
  for (const char* name : {"model.bin", "tok.bin", "text.txt"}) std::ofstream(d / name) << "x";
  fs::create_directories(d / "blimp");
  std::ofstream(d / "r.json") << R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 32}})";
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  create_named_files();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::scratch_dir() + "/study.json";
  fuzz::expect_input_errors_only([&] { parse_study_spec(std::string(fuzz::as_text(data, size)), path); });
  return 0;
}
