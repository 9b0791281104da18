// One task JSONL file read as every multiple-choice task kind, strict and with --skip-invalid.
#include "eval/mc_task.h"
#include "fuzz_input.h"

using namespace quantscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("task.jsonl", data, size);
  for (const char* kind : {"blimp", "hellaswag", "arc", "piqa", "winogrande", "lambada", "mc"}) {
    for (const bool skip_invalid : {false, true}) {
      TaskReadOptions o;
      o.skip_invalid = skip_invalid;
      fuzz::expect_input_errors_only([&] { read_mc_task(kind, path, o); });
    }
  }
  return 0;
}
