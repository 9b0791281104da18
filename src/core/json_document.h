// Parsing a whole JSON document from any input (recipes, configs, tokenizer.json, descriptions,
// study specs): the one place that turns every nlohmann failure into an InputError naming the source.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace quantscope {

// Parses a whole JSON document. Any failure is an InputError naming `source`: a syntax error with its
// byte offset, and also the errors that are not parse_error (a number that overflows a double, 1e999,
// is nlohmann's out_of_range), which a catch of parse_error alone let escape as an internal error.
nlohmann::json parse_json_document(std::string_view text, const std::string& source);

}  // namespace quantscope
