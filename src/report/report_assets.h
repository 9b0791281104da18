// The files the HTML report inlines, compiled into the binary at build time (cmake/embed_assets.cmake
// from web/: the page template, its script and style, and the chart library installed from npm by
// `npm ci` in web/, pinned by web/package-lock.json), so a report needs no network and no data files.
//   "report.html", "report.js", "report.css", "vega.min.js", "vega-lite.min.js", "vega-embed.min.js",
//   "versions" ("vega 6.4.0, vega-lite 6.4.3, vega-embed 7.3.0")
#pragma once

#include <map>
#include <string>

namespace quantscope {

const std::map<std::string, std::string>& report_assets();

}  // namespace quantscope
