// The one-way layering of docs/architecture.md, checked on the sources: a file in src/<layer>/ may
// include only its own folder and the folders of lower layers (same-rank folders are independent).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>

#include "test_util.h"

namespace quantscope {
namespace {

const std::map<std::string, int>& layer_rank() {
  static const std::map<std::string, int> r = {
      {"core", 0},  {"kernels", 1}, {"numerics", 1}, {"formats", 2}, {"tokenizer", 2}, {"model", 3},
      {"quant", 4}, {"targets", 5}, {"eval", 6},     {"interop", 6}, {"analysis", 7}, {"study", 8},   {"report", 9},    {"cli", 10},
  };
  return r;
}

TEST(Layering, IncludesPointOnlyDownward) {
  namespace fs = std::filesystem;
  const fs::path src = test::source_path("src");
  const std::regex include_re("^#include \"([a-z_]+)/");
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(src)) {
    if (!entry.is_regular_file()) continue;
    const std::string ext = entry.path().extension().string();
    if (ext != ".h" && ext != ".cc" && ext != ".inc") continue;
    const std::string layer = fs::relative(entry.path(), src).begin()->string();
    ASSERT_TRUE(layer_rank().count(layer)) << "folder src/" << layer << " has no layer in docs/architecture.md";
    ++files;
    std::ifstream in(entry.path());
    std::string line;
    int lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      std::smatch m;
      if (!std::regex_search(line, m, include_re)) continue;
      const std::string dep = m[1];
      if (dep == layer) continue;
      ASSERT_TRUE(layer_rank().count(dep)) << entry.path() << ":" << lineno << " includes unknown folder " << dep;
      EXPECT_LT(layer_rank().at(dep), layer_rank().at(layer))
          << entry.path() << ":" << lineno << ": " << layer << " must not include " << dep;
    }
  }
  EXPECT_GT(files, 100);
}

}  // namespace
}  // namespace quantscope
