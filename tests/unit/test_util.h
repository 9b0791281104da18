// Shared helpers for the unit tests: repository paths, temporary directories, running the CLI.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace quantscope::test {

inline std::string source_path(const std::string& rel) { return std::string(QUANTSCOPE_SOURCE_DIR) + "/" + rel; }
inline std::string data_path(const std::string& rel) { return source_path("data/" + rel); }
inline std::string fixture_path(const std::string& rel) { return source_path("tests/fixtures/" + rel); }

// A fresh directory under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs `quantscope <args>` through the shell (args are passed verbatim).
CliResult run_cli(const std::string& args);

}  // namespace quantscope::test
