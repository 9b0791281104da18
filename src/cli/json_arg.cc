#include "cli/json_arg.h"

#include "core/error.h"
#include "core/mapped_file.h"

namespace quantscope::cli {

nlohmann::json read_json_arg(const std::string& arg, const std::string& flag, const std::string& example) {
  const bool file = !arg.empty() && arg[0] == '@';
  const std::string text = file ? read_text_file(arg.substr(1)) : arg;
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded())
    fail_input("{}: {} is not JSON (expected e.g. {} or @FILE)", flag, file ? arg.substr(1) : "'" + arg + "'", example);
  return j;
}

}  // namespace quantscope::cli
