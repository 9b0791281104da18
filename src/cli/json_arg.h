// Flags that take JSON inline or from a file (@FILE), e.g. --scheme, --candidates.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace quantscope::cli {

// The JSON text of `arg`, or of the file it names after '@'. InputError naming `flag` when it does not
// parse, showing `example`.
nlohmann::json read_json_arg(const std::string& arg, const std::string& flag, const std::string& example);

}  // namespace quantscope::cli
