// The report as one self-contained HTML page: the template, style and script of web/ with the chart
// library and the report's JSON document inlined (report_assets.h). Opening it needs no network.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace quantscope {

std::string render_report_html(const nlohmann::json& report);

// JSON text made safe to sit inside a <script> element: "</" becomes "<\/" (the same characters to a
// JSON string, the only place JSON can hold them), so no "</script>" in the data ends the element.
// Not for code: in JavaScript "</" also occurs in regular expressions, where the escape changes them.
std::string json_script_safe(const std::string& json_text);

}  // namespace quantscope
