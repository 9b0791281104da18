#include "report/report_html.h"

#include <cctype>

#include "core/error.h"
#include "report/report_assets.h"

namespace quantscope {
namespace {

const std::string& asset(const std::string& name) {
  const auto& a = report_assets();
  const auto it = a.find(name);
  if (it == a.end()) fail_internal("report asset {} was not compiled in", name);
  return it->second;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// Replaces the one occurrence of `marker` in `page` (the template must hold it exactly once).
void fill(std::string& page, const std::string& marker, const std::string& with) {
  const size_t at = page.find(marker);
  if (at == std::string::npos || page.find(marker, at + 1) != std::string::npos)
    fail_internal("web/report.html: marker {} must occur exactly once", marker);
  page.replace(at, marker.size(), with);
}

// Code is inlined as it is; what would end its <script> element early is refused, never rewritten.
std::string script_element(const std::string& name) {
  const std::string& code = asset(name);
  for (size_t at = code.find("</"); at != std::string::npos; at = code.find("</", at + 1)) {
    std::string next = code.substr(at + 2, 6);
    for (char& c : next) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (next == "script") fail_internal("{} holds \"</script\": it cannot be inlined", name);
  }
  return "<script>\n" + code + "\n</script>\n";
}

}  // namespace

std::string json_script_safe(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    out += text[i];
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '/') out += '\\';
  }
  return out;
}

std::string render_report_html(const nlohmann::json& report) {
  nlohmann::json data = report;
  data["chart_library"] = asset("versions");
  std::string page = asset("report.html");
  const std::string title = html_escape(report.value("study", std::string("study")));
  for (size_t at = 0; (at = page.find("{{TITLE}}", at)) != std::string::npos; at += title.size())
    page.replace(at, 9, title);
  fill(page, "<!--QS_STYLE-->", "<style>\n" + asset("report.css") + "</style>");
  std::string libraries;
  for (const char* lib : {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"}) libraries += script_element(lib);
  fill(page, "<!--QS_LIBRARIES-->", libraries);
  // dump(): ensure_ascii off keeps names readable; invalid UTF-8 in a stored string is replaced, not fatal.
  fill(page, "<!--QS_DATA-->",
       "<script id=\"report-data\" type=\"application/json\">" +
           json_script_safe(data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "</script>");
  fill(page, "<!--QS_APP-->", script_element("report.js"));
  return page;
}

}  // namespace quantscope
