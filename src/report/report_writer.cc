#include "report/report_writer.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/csv.h"
#include "core/error.h"
#include "core/file_io.h"
#include "report/report_html.h"

namespace quantscope {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// A number as the report's tables show it: up to 6 significant digits; "nan" / "inf" kept as words.
std::string num(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return fmt::format("{:.6g}", v.get<double>());
  return "";
}

std::string md_cell(std::string s) {
  for (size_t at = 0; (at = s.find('|', at)) != std::string::npos; at += 2) s.replace(at, 1, "\\|");
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

std::string md_table(const std::vector<std::string>& head, const std::vector<std::vector<std::string>>& rows) {
  std::string s = "|";
  for (const auto& h : head) s += " " + md_cell(h) + " |";
  s += "\n|";
  for (size_t i = 0; i < head.size(); ++i) s += "---|";
  s += "\n";
  for (const auto& r : rows) {
    s += "|";
    for (const auto& c : r) s += " " + md_cell(c) + " |";
    s += "\n";
  }
  return s + "\n";
}

std::string csv_line(const std::vector<std::string>& fields) {
  std::string s;
  for (size_t i = 0; i < fields.size(); ++i) s += (i ? "," : "") + csv_field(fields[i]);
  return s + "\n";
}

std::string value_pm(const json& q) { return num(q["value"]) + " ± " + num(q["error"]); }

// Quality per recipe (rows) and target (columns), one table per task/metric.
std::string quality_tables(const json& r) {
  std::set<std::string> keys, targets;
  for (const auto& c : r["configs"]) {
    targets.insert(c["target"].get<std::string>());
    for (const auto& [k, v] : c["quality"].items()) keys.insert(k);
  }
  std::string s;
  for (const auto& key : keys) {
    std::map<std::string, std::map<std::string, std::string>> cells;  // recipe -> target -> value
    std::map<std::string, std::string> bits;
    std::vector<std::string> order;
    for (const auto& c : r["configs"]) {
      if (!c["quality"].contains(key)) continue;
      const std::string recipe = c["recipe"];
      if (!cells.count(recipe)) order.push_back(recipe);
      cells[recipe][c["target"]] = value_pm(c["quality"][key]);
      bits[recipe] = num(c["bits"]);
    }
    std::vector<std::string> head = {"recipe", "bits/weight"};
    head.insert(head.end(), targets.begin(), targets.end());
    std::vector<std::vector<std::string>> rows;
    for (const auto& recipe : order) {
      std::vector<std::string> row = {recipe, bits[recipe]};
      for (const auto& t : targets) row.push_back(cells[recipe].count(t) ? cells[recipe][t] : "refused");
      rows.push_back(row);
    }
    s += fmt::format("### {}\n\n", key) + md_table(head, rows);
  }
  return s;
}

std::string pareto_tables(const json& r) {
  std::string s;
  for (const auto& p : r["pareto"]) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& i : p["front"]) {
      const json& c = r["configs"][i.get<size_t>()];
      rows.push_back({c["recipe"], num(c["weight_bytes"]), num(c["bits"]), value_pm(c["quality"][p["quality"].get<std::string>()])});
    }
    s += fmt::format("### {} on {} ({})\n\n", p["quality"].get<std::string>(), p["target"].get<std::string>(),
                     p["model"].get<std::string>()) +
         md_table({"recipe", "weight bytes", "bits/weight", "KLD"}, rows);
  }
  return s;
}

// Attention vs MLP sums and the three most sensitive tensors per (target, recipe).
std::string sensitivity_tables(const json& r) {
  struct Sum {
    double attention = 0, mlp = 0;
    std::vector<std::pair<double, std::string>> units;
  };
  std::map<std::pair<std::string, std::string>, Sum> sums;
  for (const auto& u : r["sensitivity"]) {
    if (!u["kld"].is_number()) continue;
    Sum& s = sums[{u["target"], u["recipe"]}];
    const double k = u["kld"].get<double>();
    (u["attention"].get<bool>() ? s.attention : s.mlp) += k;
    s.units.push_back({k, fmt::format("layer {} {}", u["layer"].get<int>(), u["role"].get<std::string>())});
  }
  std::vector<std::vector<std::string>> rows;
  for (auto& [k, s] : sums) {
    std::sort(s.units.rbegin(), s.units.rend());
    std::string top;
    for (size_t i = 0; i < std::min<size_t>(3, s.units.size()); ++i)
      top += fmt::format("{}{} ({:.3g})", i ? ", " : "", s.units[i].second, s.units[i].first);
    rows.push_back({k.first, k.second, fmt::format("{:.4g}", s.attention), fmt::format("{:.4g}", s.mlp), top});
  }
  return md_table({"target", "recipe", "attention KLD (sum)", "MLP KLD (sum)", "most sensitive tensors"}, rows);
}

std::string differences_table(const json& r) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : r["differences"])
    if (d["significant"].get<bool>())
      rows.push_back({d["recipe"], d["task"].get<std::string>() + "/" + d["metric"].get<std::string>(),
                      d["target_a"], num(d["value_a"]), d["target_b"], num(d["value_b"]), num(d["z"]), num(d["p_holm"])});
  return md_table({"recipe", "metric", "target a", "a", "target b", "b", "z", "p (Holm)"}, rows);
}

std::string results_csv(const json& r) {
  std::string s = csv_line({"study", "model", "recipe", "method", "w_bits", "a_bits", "seed", "target", "task", "status",
                            "metric", "value", "error", "count", "protocol", "reason", "cell_key", "run_id", "commit",
                            "host", "started", "ended", "wall_s"});
  for (const auto& c : r["cells"]) {
    const json& p = c["provenance"];
    const std::vector<std::string> head = {r["study"], c["model"], c["recipe"], c["method"], num(c["w_bits"]),
                                           num(c["a_bits"]), num(c["seed"]), c["target"], c["task"], c["status"]};
    const std::vector<std::string> tail = {c["reason"], c["key"], p["run_id"], p["commit"], p["host"],
                                           p["started"], p["ended"], num(p["wall_s"])};
    auto line = [&](const std::vector<std::string>& metric) {
      std::vector<std::string> f = head;
      f.insert(f.end(), metric.begin(), metric.end());
      f.insert(f.end(), tail.begin(), tail.end());
      s += csv_line(f);
    };
    if (c["metrics"].empty()) line({"", "", "", "", ""});
    for (const auto& [name, m] : c["metrics"].items())
      line({name, num(m["value"]), num(m["error"]), num(m["count"]), m["protocol"]});
  }
  return s;
}

std::string configs_csv(const json& r) {
  std::set<std::string> keys;
  for (const auto& c : r["configs"])
    for (const auto& [k, v] : c["quality"].items()) keys.insert(k);
  std::vector<std::string> head = {"model", "recipe", "method", "w_bits", "a_bits", "seed", "target", "bits",
                                   "weight_bytes", "proj_decode_tok_s", "proj_prefill_tok_s"};
  for (const auto& k : keys) head.push_back(k), head.push_back(k + "_se");
  std::string s = csv_line(head);
  for (const auto& c : r["configs"]) {
    std::vector<std::string> f;
    for (const char* col : {"model", "recipe", "method", "w_bits", "a_bits", "seed", "target", "bits", "weight_bytes",
                            "proj_decode_tok_s", "proj_prefill_tok_s"})
      f.push_back(c[col].is_string() ? c[col].get<std::string>() : num(c[col]));
    for (const auto& k : keys) {
      f.push_back(c["quality"].contains(k) ? num(c["quality"][k]["value"]) : "");
      f.push_back(c["quality"].contains(k) ? num(c["quality"][k]["error"]) : "");
    }
    s += csv_line(f);
  }
  return s;
}

// The rows of a JSON array of flat objects, columns in `cols` order.
std::string array_csv(const json& rows, const std::vector<std::string>& cols) {
  std::string s = csv_line(cols);
  for (const auto& row : rows) {
    std::vector<std::string> f;
    for (const auto& c : cols) f.push_back(row[c].is_string() ? row[c].get<std::string>() : row[c].is_boolean() ? (row[c].get<bool>() ? "true" : "false") : num(row[c]));
    s += csv_line(f);
  }
  return s;
}

}  // namespace

std::string report_markdown(const json& r) {
  std::string s = fmt::format("# quantscope report: {}\n\n", r["study"].get<std::string>());
  size_t done = 0;
  for (const auto& c : r["cells"]) done += c["status"] == "done";
  s += fmt::format("{} cells from `{}` ({} measured, {} refused); generated {} by quantscope {} ({}). The charts are "
                   "in index.html beside this file.\n\n",
                   r["cells"].size(), r["store"].get<std::string>(), done, r["cells"].size() - done,
                   r["generated"].get<std::string>(), r["tool"]["version"].get<std::string>(),
                   r["tool"]["commit"].get<std::string>());
  s += "## Quality per recipe and target\n\nValue ± standard error; bits/weight of the decoder linears as stored.\n\n";
  s += quality_tables(r);
  if (!r["pareto"].empty()) s += "## Pareto front: KLD against weight bytes on each target\n\n" + pareto_tables(r);
  if (!r["sensitivity"].empty())
    s += "## Sensitivity: KLD with one tensor quantized, summed by attention and MLP\n\n" + sensitivity_tables(r);
  size_t significant = 0;
  for (const auto& d : r["differences"]) significant += d["significant"].get<bool>();
  s += fmt::format("## Target against target\n\n{} comparisons of the same model and task on two targets, {} "
                   "significant at 5% after Holm's correction (z test with the errors taken as independent: "
                   "conservative, both targets score the same tokens).\n\n",
                   r["differences"].size(), significant);
  if (significant) s += differences_table(r);
  s += "## Refused\n\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : r["refused"]) rows.push_back({x["target"], x["recipe"], num(x["cells"]), x["reason"]});
  s += rows.empty() ? "No cell was refused.\n\n" : md_table({"target", "recipe", "cells", "reason"}, rows);
  s += "## Provenance\n\n";
  rows.clear();
  for (const auto& x : r["runs"]) rows.push_back({x["run_id"], x["commit"], x["host"], x["started"], x["ended"], x["command_line"]});
  s += md_table({"run", "commit", "host", "started", "ended", "command"}, rows);
  s += "Every cell's provenance (run, commit, host, times, peak memory) is in results.csv and report.json.\n";
  return s;
}

std::vector<std::string> write_report(const json& report, const std::string& out_dir) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) fail_input("{}: cannot create the report directory ({})", out_dir, ec.message());
  if (!fs::is_directory(out_dir)) fail_input("{}: not a directory", out_dir);
  const std::vector<std::pair<std::string, std::string>> files = {
      {"index.html", render_report_html(report)},
      {"report.md", report_markdown(report)},
      {"report.json", report.dump(1, ' ', false, json::error_handler_t::replace) + "\n"},
      {"results.csv", results_csv(report)},
      {"configs.csv", configs_csv(report)},
      {"differences.csv", array_csv(report["differences"], {"model", "recipe", "seed", "task", "metric", "target_a",
                                                            "target_b", "value_a", "error_a", "value_b", "error_b",
                                                            "diff", "z", "p", "p_holm", "significant"})},
      {"sensitivity.csv", array_csv(report["sensitivity"], {"model", "recipe", "seed", "target", "task", "layer",
                                                            "role", "attention", "kld", "error"})},
  };
  std::vector<std::string> written;
  for (const auto& [name, contents] : files) {
    const std::string path = (fs::path(out_dir) / name).string();
    write_file_atomic(path, contents);
    written.push_back(path);
  }
  return written;
}

}  // namespace quantscope
