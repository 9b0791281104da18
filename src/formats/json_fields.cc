#include "formats/json_fields.h"

#include "core/error.h"

namespace quantscope {

int64_t json_int(const nlohmann::json& v, const std::string& where) {
  if (!v.is_number_integer()) fail_input("{}: expected an integer, got {}", where, v.dump());
  return v.get<int64_t>();
}

double json_number(const nlohmann::json& v, const std::string& where) {
  if (!v.is_number()) fail_input("{}: expected a number, got {}", where, v.dump());
  return v.get<double>();
}

bool json_bool(const nlohmann::json& v, const std::string& where) {
  if (!v.is_boolean()) fail_input("{}: expected true or false, got {}", where, v.dump());
  return v.get<bool>();
}

std::string json_string(const nlohmann::json& v, const std::string& where) {
  if (!v.is_string()) fail_input("{}: expected a string, got {}", where, v.dump());
  return v.get<std::string>();
}

}  // namespace quantscope
