// RFC 4180 CSV fields: quoted only when they hold a comma, quote or line break.
#pragma once

#include <string>

namespace quantscope {

inline std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace quantscope
