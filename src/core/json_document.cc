#include "core/json_document.h"

#include "core/error.h"

namespace quantscope {

nlohmann::json parse_json_document(std::string_view text, const std::string& source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();  // "[json.exception.parse_error.101] parse error at line 1, ...": keep the reason
    const auto pos = what.find("] ");
    if (pos != std::string::npos) what = what.substr(pos + 2);
    fail_input("{}: not valid JSON (byte {}: {})", source, e.byte > 0 ? e.byte - 1 : 0, what);
  } catch (const nlohmann::json::exception& e) {
    fail_input("{}: not valid JSON ({})", source, e.what());
  }
}

}  // namespace quantscope
