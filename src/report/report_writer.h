// Writes a report directory from the gathered document (report_data.h):
//   index.html       the page (report_html.h): charts and tables, self-contained
//   report.md        the same findings as Markdown tables (for a terminal, a wiki, a pull request)
//   report.json      the document itself
//   results.csv      one row per cell and metric, with the cell's provenance
//   configs.csv      one row per quantized model on a target: bits, bytes, projected speed, quality
//   differences.csv  every target-vs-target comparison with z, p and Holm-adjusted p
//   sensitivity.csv  one row per (target, recipe, layer, role) of the sensitivity tasks
// Each file is written aside and renamed into place, so a killed run leaves whole files only.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace quantscope {

// Returns the paths written.
std::vector<std::string> write_report(const nlohmann::json& report, const std::string& out_dir);

std::string report_markdown(const nlohmann::json& report);

}  // namespace quantscope
