#include "report/report_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "core/build_info.h"
#include "core/error.h"
#include "report/report_stats.h"

namespace quantscope {
namespace {

using nlohmann::json;

// The metrics a report compares and plots, and which of them are better when higher.
const std::set<std::string> kQualityMetrics = {"ppl", "kld", "acc"};

// Method, bits and granularity of a uniform recipe ({"default": {...}}); "mixed" when it has overrides.
json recipe_facets(const std::string& recipe_json) {
  json f = {{"method", "?"}, {"w_bits", 0}, {"a_bits", 0}, {"granularity", ""}, {"group_size", 0}};
  json r;
  try {
    r = json::parse(recipe_json);
  } catch (const json::exception&) {
    return f;  // a store written by hand: the facets stay unknown, the cell is still reported
  }
  if (!r.is_object() || !r.contains("default") || !r["default"].is_object()) return f;
  const json& d = r["default"];
  f["method"] = d.value("method", "?");
  if (f["method"] == "none") f["method"] = "fp";
  f["w_bits"] = d.value("w_bits", 0);
  f["a_bits"] = d.value("a_bits", 0);
  f["granularity"] = d.value("granularity", "");
  f["group_size"] = d.value("group_size", 0);
  if (r.contains("overrides") && r["overrides"].is_array() && !r["overrides"].empty()) f["method"] = "mixed";
  return f;
}

json metric_json(const Metric& m) {
  return {{"value", report_number(m.value)}, {"error", report_number(m.error)}, {"count", m.count},
          {"protocol", m.protocol}};
}

json cell_json(const CellRecord& c) {
  json j = recipe_facets(c.recipe_json);
  j.update({{"key", c.key}, {"model", c.model}, {"recipe", c.recipe}, {"seed", c.seed}, {"target", c.target},
            {"task", c.task}, {"status", c.status}, {"reason", c.reason}});
  json metrics = json::object();
  for (const Metric& m : c.metrics) metrics[m.name] = metric_json(m);
  j["metrics"] = metrics;
  const CellProvenance& p = c.provenance;
  j["provenance"] = {{"run_id", c.run_id}, {"commit", p.commit}, {"version", p.version}, {"host", p.host},
                     {"rank", p.rank}, {"started", p.started}, {"ended", p.ended}, {"wall_s", p.wall_s},
                     {"peak_rss_bytes", p.peak_rss_bytes}, {"command_line", p.command_line}};
  return j;
}

const Metric* find_metric(const CellRecord& c, const std::string& name) {
  for (const Metric& m : c.metrics)
    if (m.name == name) return &m;
  return nullptr;
}

using ConfigKey = std::tuple<std::string, std::string, uint64_t, std::string>;  // model, recipe, seed, target

// One entry per quantized model on a target: its costs (the same in every task's cell) and the quality
// metrics of every task.
json gather_configs(const std::vector<CellRecord>& cells) {
  std::map<ConfigKey, json> configs;
  std::vector<ConfigKey> order;
  for (const CellRecord& c : cells) {
    if (c.status != "done" || c.task.empty()) continue;
    const ConfigKey k{c.model, c.recipe, c.seed, c.target};
    auto it = configs.find(k);
    if (it == configs.end()) {
      json j = recipe_facets(c.recipe_json);
      j.update({{"model", c.model}, {"recipe", c.recipe}, {"seed", c.seed}, {"target", c.target}, {"bits", 0},
                {"weight_bytes", 0}, {"proj_decode_tok_s", 0}, {"proj_prefill_tok_s", 0}, {"quality", json::object()}});
      it = configs.emplace(k, j).first;
      order.push_back(k);
    }
    json& j = it->second;
    for (const char* cost : {"bits", "weight_bytes", "proj_decode_tok_s", "proj_prefill_tok_s"})
      if (const Metric* m = find_metric(c, cost)) j[cost] = report_number(m->value);
    for (const Metric& m : c.metrics)
      if (kQualityMetrics.count(m.name))
        j["quality"][c.task + "/" + m.name] = {{"value", report_number(m.value)}, {"error", report_number(m.error)}};
  }
  // The unquantized model first, then by method and from the most bits to the fewest: the order of the
  // study's tables. Ties keep store order.
  std::stable_sort(order.begin(), order.end(), [&](const ConfigKey& a, const ConfigKey& b) {
    const json& x = configs[a];
    const json& y = configs[b];
    const bool fx = x["method"] == "fp", fy = y["method"] == "fp";
    if (fx != fy) return fx;
    if (x["method"] != y["method"]) return x["method"].get<std::string>() < y["method"].get<std::string>();
    return x["w_bits"].get<double>() > y["w_bits"].get<double>();
  });
  json out = json::array();
  for (const auto& k : order) out.push_back(configs[k]);
  return out;
}

double number_of(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) return v == "inf" ? INFINITY : v == "-inf" ? -INFINITY : NAN;
  return NAN;
}

// KLD against weight bytes per (model, target, KLD task): which configurations nothing beats.
json gather_pareto(const json& configs) {
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < configs.size(); ++i)
    for (const auto& [q, v] : configs[i]["quality"].items())
      if (q.size() > 4 && q.compare(q.size() - 4, 4, "/kld") == 0)
        groups[{configs[i]["model"], configs[i]["target"], q}].push_back(i);
  json out = json::array();
  for (const auto& [k, members] : groups) {
    std::vector<CostQuality> pts;
    for (size_t i : members) {
      const double bytes = number_of(configs[i]["weight_bytes"]);
      pts.push_back({bytes > 0 ? bytes : NAN, number_of(configs[i]["quality"][std::get<2>(k)]["value"])});
    }
    json front = json::array();
    for (size_t p : pareto_front(pts)) front.push_back(members[p]);
    out.push_back({{"model", std::get<0>(k)}, {"target", std::get<1>(k)}, {"quality", std::get<2>(k)},
                   {"cost", "weight_bytes"}, {"front", front}});
  }
  return out;
}

// Sensitivity cells store one unit_kld metric per decoder linear (results_store.h).
json gather_sensitivity(const std::vector<CellRecord>& cells) {
  json out = json::array();
  for (const CellRecord& c : cells) {
    if (c.status != "done") continue;
    for (const Metric& m : c.metrics) {
      int layer = -1;
      std::string role;
      if (!parse_unit_kld_metric(m.name, &layer, &role)) continue;
      out.push_back({{"model", c.model}, {"recipe", c.recipe}, {"seed", c.seed}, {"target", c.target},
                     {"task", c.task}, {"layer", layer}, {"role", role}, {"attention", role.rfind("attn", 0) == 0},
                     {"kld", report_number(m.value)}, {"error", report_number(m.error)}});
    }
  }
  return out;
}

// Every pair of targets measuring the same thing. The z statistic treats the two errors as independent;
// both targets score the same tokens, so their errors correlate positively and the true error of the
// difference is smaller: the test is conservative (a difference it flags is real).
json gather_differences(const std::vector<CellRecord>& cells) {
  using Key = std::tuple<std::string, std::string, uint64_t, std::string, std::string>;  // model recipe seed task metric
  std::map<Key, std::vector<std::pair<std::string, const Metric*>>> by_key;
  for (const CellRecord& c : cells) {
    if (c.status != "done") continue;
    for (const Metric& m : c.metrics)
      if (kQualityMetrics.count(m.name)) by_key[{c.model, c.recipe, c.seed, c.task, m.name}].push_back({c.target, &m});
  }
  json out = json::array();
  std::vector<double> ps;
  for (const auto& [k, per_target] : by_key) {
    for (size_t a = 0; a < per_target.size(); ++a)
      for (size_t b = a + 1; b < per_target.size(); ++b) {
        const Metric& ma = *per_target[a].second;
        const Metric& mb = *per_target[b].second;
        const double diff = mb.value - ma.value;
        const double se = std::sqrt(ma.error * ma.error + mb.error * mb.error);
        // Equal values (two targets whose numerics agree exactly) are no difference, whatever the error.
        const double z = diff == 0 ? 0 : se > 0 ? diff / se : NAN;
        if (!std::isfinite(z)) continue;  // a non-finite value or no error: nothing to test
        const double p = two_sided_p(z);
        ps.push_back(p);
        out.push_back({{"model", std::get<0>(k)}, {"recipe", std::get<1>(k)}, {"seed", std::get<2>(k)},
                       {"task", std::get<3>(k)}, {"metric", std::get<4>(k)}, {"target_a", per_target[a].first},
                       {"target_b", per_target[b].first}, {"value_a", ma.value}, {"error_a", ma.error},
                       {"value_b", mb.value}, {"error_b", mb.error}, {"diff", diff}, {"z", z}, {"p", p}});
      }
  }
  const std::vector<double> holm = holm_adjust(ps);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i]["p_holm"] = holm[i];
    out[i]["significant"] = holm[i] < 0.05;
  }
  return out;
}

json gather_refused(const std::vector<CellRecord>& cells) {
  std::map<std::tuple<std::string, std::string, std::string, std::string>, int> counts;
  for (const CellRecord& c : cells)
    if (c.status == "refused") ++counts[{c.model, c.recipe, c.target, c.reason}];
  json out = json::array();
  for (const auto& [k, n] : counts)
    out.push_back({{"model", std::get<0>(k)}, {"recipe", std::get<1>(k)}, {"target", std::get<2>(k)},
                   {"reason", std::get<3>(k)}, {"cells", n}});
  return out;
}

}  // namespace

json report_number(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

json gather_report(ResultsStore& store) {
  const std::vector<CellRecord> cells = store.cells();
  if (cells.empty()) fail_input("{}: the store holds no cells (run `quantscope study run` first)", store.path());
  json r;
  const std::vector<RunRecord> runs = store.runs();
  std::set<std::string> studies;
  for (const CellRecord& c : cells) studies.insert(c.study);
  std::string study;
  for (const auto& s : studies) study += (study.empty() ? "" : ", ") + s;
  r["study"] = study;
  r["store"] = store.path();
  r["generated"] = utc_now();
  r["tool"] = {{"version", build_version()}, {"commit", build_commit()}};
  r["runs"] = json::array();
  for (const RunRecord& run : runs)
    r["runs"].push_back({{"run_id", run.run_id}, {"study", run.study}, {"command_line", run.command_line},
                         {"commit", run.commit}, {"version", run.version}, {"host", run.host},
                         {"started", run.started}, {"ended", run.ended}});
  r["cells"] = json::array();
  for (const CellRecord& c : cells) r["cells"].push_back(cell_json(c));
  r["configs"] = gather_configs(cells);
  r["pareto"] = gather_pareto(r["configs"]);
  r["sensitivity"] = gather_sensitivity(cells);
  r["differences"] = gather_differences(cells);
  r["refused"] = gather_refused(cells);
  return r;
}

}  // namespace quantscope
