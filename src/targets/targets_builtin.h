// The target profiles compiled into the binary (generated from targets/*.json by src/CMakeLists.txt).
#pragma once

#include <string>
#include <vector>

namespace quantscope {

struct BuiltinTargetFile {
  std::string name;  // file stem: "ascend-910b1"
  std::string path;  // "targets/ascend-910b1.json" (for messages)
  std::string json;
};

const std::vector<BuiltinTargetFile>& builtin_target_files();

}  // namespace quantscope
