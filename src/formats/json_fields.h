// Typed readers of JSON values for the project's own JSON inputs (recipes, target profiles, studies):
// each throws InputError naming the place (`where`: "recipe.json: default.w_bits") and what it expected.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace quantscope {

int64_t json_int(const nlohmann::json& v, const std::string& where);
double json_number(const nlohmann::json& v, const std::string& where);
bool json_bool(const nlohmann::json& v, const std::string& where);
std::string json_string(const nlohmann::json& v, const std::string& where);

}  // namespace quantscope
