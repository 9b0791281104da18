// A results store (`quantscope results query|merge S.db`) opened read-only from arbitrary bytes:
// SQLite itself checks the file format; what is fuzzed is our reading of its tables (columns
// missing, of other types, NULL, text where numbers are expected, JSON columns that are not JSON).
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "study/results_store.h"

using namespace quantscope;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::write_input("store.db", data, size);
  fuzz::expect_input_errors_only([&] {
    ResultsStore store(path, /*read_only=*/true);
    store.runs();
    store.cells();
    std::vector<std::string> columns;
    store.query("", &columns);
  });
  return 0;
}
