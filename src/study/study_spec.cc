#include "study/study_spec.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/json_document.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "eval/mc_task.h"
#include "eval/perplexity.h"
#include "formats/json_fields.h"
#include "quant/recipe.h"

namespace quantscope {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Fails on any key of `obj` not in `allowed`, naming it: a typo must not silently fall back to a default.
void require_known_fields(const json& obj, const std::string& where, std::initializer_list<const char*> allowed) {
  if (!obj.is_object()) fail_input("{}: expected an object", where);
  for (const auto& [k, v] : obj.items()) {
    bool ok = false;
    for (const char* a : allowed) ok = ok || k == a;
    if (!ok) {
      std::string list;
      for (const char* a : allowed) list += fmt::format("{}{}", list.empty() ? "" : ", ", a);
      fail_input("{}: unknown field '{}' (expected one of: {})", where, k, list);
    }
  }
}

const json& required(const json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key)) fail_input("{}: missing field '{}'", where, key);
  return obj.at(key);
}

std::vector<std::string> string_list(const json& v, const std::string& where) {
  if (!v.is_array() || v.empty()) fail_input("{}: expected a non-empty list of strings", where);
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i) out.push_back(json_string(v[i], fmt::format("{}[{}]", where, i)));
  return out;
}

class SpecReader {
 public:
  SpecReader(std::string path) : path_(std::move(path)) {
    base_ = fs::absolute(fs::path(path_)).parent_path();
  }

  std::string where(const std::string& field) const { return fmt::format("{}: {}", path_, field); }

  // A path from the spec, made absolute against the spec's directory; it must exist.
  std::string existing_path(const json& v, const std::string& field) const {
    const std::string s = json_string(v, where(field));
    fs::path p(s);
    if (p.is_relative()) p = base_ / p;
    p = p.lexically_normal();
    // The error_code overload: a name the file system refuses outright (too long, say) is bad input too,
    // not a filesystem_error escaping (found by fuzz_study_spec).
    std::error_code ec;
    if (!fs::exists(p, ec))
      fail_input("{}: '{}' does not exist (relative paths are from {}{})", where(field), s, base_.string(),
                 ec ? "; " + ec.message() : std::string());
    return p.string();
  }

  StudySpec parse(const std::string& text) {
    const json j = parse_json_document(text, path_);
    require_known_fields(j, path_,
                         {"name", "description", "models", "tokenizer", "calibration", "seeds", "baseline", "recipes",
                          "targets", "tasks", "threads"});
    StudySpec s;
    s.path = path_;
    s.name = j.contains("name") ? json_string(j["name"], where("name")) : fs::path(path_).stem().string();
    const json& models = required(j, "models", path_);
    if (!models.is_array() || models.empty()) fail_input("{}: expected a non-empty list of model paths", where("models"));
    for (size_t i = 0; i < models.size(); ++i) s.models.push_back(existing_path(models[i], fmt::format("models[{}]", i)));
    if (j.contains("tokenizer")) s.tokenizer = existing_path(j["tokenizer"], "tokenizer");
    if (j.contains("calibration")) parse_calibration(j["calibration"], s.calibration);
    if (j.contains("seeds")) {
      const json& v = j["seeds"];
      if (!v.is_array() || v.empty()) fail_input("{}: expected a non-empty list of integers", where("seeds"));
      s.seeds.clear();
      for (size_t i = 0; i < v.size(); ++i) {
        const int64_t seed = json_int(v[i], where(fmt::format("seeds[{}]", i)));
        if (seed < 0) fail_input("{}: a seed is a non-negative integer", where(fmt::format("seeds[{}]", i)));
        s.seeds.push_back(uint64_t(seed));
      }
    }
    if (j.contains("baseline")) s.baseline = json_bool(j["baseline"], where("baseline"));
    if (j.contains("recipes")) parse_recipes(j["recipes"], s);
    if (s.recipes.empty() && !s.baseline) fail_input("{}: no recipes and no baseline: the study has no cells", path_);
    s.targets = string_list(required(j, "targets", path_), where("targets"));
    const json& tasks = required(j, "tasks", path_);
    if (!tasks.is_array() || tasks.empty()) fail_input("{}: expected a non-empty list of tasks", where("tasks"));
    std::set<std::string> names;
    for (size_t i = 0; i < tasks.size(); ++i) {
      s.tasks.push_back(parse_task(tasks[i], fmt::format("tasks[{}]", i)));
      check_task_recipes(s, fmt::format("tasks[{}]", i));
      if (!names.insert(s.tasks.back().name).second)
        fail_input("{}: task name '{}' is used twice (give each a \"name\")", where(fmt::format("tasks[{}]", i)),
                   s.tasks.back().name);
    }
    if (j.contains("threads")) {
      const int64_t t = json_int(j["threads"], where("threads"));
      if (t < 0 || t > 4096) fail_input("{}: expected 0 (all) .. 4096", where("threads"));
      s.threads = int(t);
    }
    return s;
  }

 private:
  void parse_calibration(const json& c, StudyCalibration& out) const {
    require_known_fields(c, where("calibration"), {"files", "samples", "tokens"});
    const json& files = required(c, "files", where("calibration"));
    if (!files.is_array() || files.empty()) fail_input("{}: expected a non-empty list of text files", where("calibration.files"));
    for (size_t i = 0; i < files.size(); ++i)
      out.files.push_back(existing_path(files[i], fmt::format("calibration.files[{}]", i)));
    if (c.contains("samples")) out.samples = json_int(c["samples"], where("calibration.samples"));
    if (c.contains("tokens")) out.tokens = json_int(c["tokens"], where("calibration.tokens"));
    if (out.samples < 1) fail_input("{}: expected >= 1", where("calibration.samples"));
    if (out.tokens < 2) fail_input("{}: expected >= 2 (BOS + at least one token)", where("calibration.tokens"));
  }

  // "W4" -> (4, 0); "W8A8" -> (8, 8).
  static std::pair<int, int> parse_bits(const std::string& s, const std::string& at) {
    int w = 0, a = 0;
    char tail = 0;
    if (std::sscanf(s.c_str(), "W%dA%d%c", &w, &a, &tail) == 2 || std::sscanf(s.c_str(), "W%d%c", &w, &tail) == 1) {
      if (w >= 1 && w <= 8 && (a == 0 || a == 4 || a == 8)) return {w, a};
    }
    fail_input("{}: '{}' is not a bit width (expected W1..W8, optionally with A4 or A8: \"W4\", \"W8A8\")", at, s);
  }

  void parse_recipes(const json& r, StudySpec& s) const {
    require_known_fields(r, where("recipes"), {"grid", "files"});
    if (r.contains("grid")) {
      const json& g = r["grid"];
      if (!g.is_array()) fail_input("{}: expected a list of grid blocks", where("recipes.grid"));
      for (size_t b = 0; b < g.size(); ++b) expand_block(g[b], fmt::format("recipes.grid[{}]", b), s);
    }
    if (r.contains("files")) {
      const json& f = r["files"];
      if (!f.is_array()) fail_input("{}: expected a list of recipe files", where("recipes.files"));
      for (size_t i = 0; i < f.size(); ++i) {
        const std::string p = existing_path(f[i], fmt::format("recipes.files[{}]", i));
        const Recipe rec = read_recipe(p);  // validates the recipe now, naming its file
        s.recipes.push_back({fs::path(p).stem().string(), rec.json, p});
      }
    }
  }

  void expand_block(const json& b, const std::string& at, StudySpec& s) const {
    require_known_fields(b, where(at), {"methods", "bits", "granularity", "group_size", "scheme"});
    const auto methods = string_list(required(b, "methods", where(at)), where(at + ".methods"));
    for (size_t i = 0; i < methods.size(); ++i) {
      QuantMethod m;
      if (!method_from_name(methods[i], &m) || m == QuantMethod::None)
        fail_input("{}: unknown method '{}' (expected rtn, gptq, awq, smoothquant, gptaq, billm or slim_llm)",
                   where(fmt::format("{}.methods[{}]", at, i)), methods[i]);
    }
    const auto bits = string_list(required(b, "bits", where(at)), where(at + ".bits"));
    const auto grans = b.contains("granularity") ? string_list(b["granularity"], where(at + ".granularity"))
                                                 : std::vector<std::string>{"channel"};
    for (const auto& g : grans)
      if (g != "tensor" && g != "channel" && g != "group")
        fail_input("{}: '{}' (expected tensor, channel or group)", where(at + ".granularity"), g);
    int64_t group_size = 0;
    if (b.contains("group_size")) group_size = json_int(b["group_size"], where(at + ".group_size"));
    const bool any_group = std::find(grans.begin(), grans.end(), "group") != grans.end();
    if (any_group && group_size < 1) fail_input("{}: granularity group needs group_size >= 1", where(at));
    json extra = json::object();
    if (b.contains("scheme")) {
      extra = b["scheme"];
      if (!extra.is_object()) fail_input("{}: expected an object of recipe scheme fields", where(at + ".scheme"));
    }
    for (const auto& m : methods)
      for (size_t bi = 0; bi < bits.size(); ++bi) {
        const auto [w, a] = parse_bits(bits[bi], where(fmt::format("{}.bits[{}]", at, bi)));
        for (const auto& g : grans) {
          json d = extra;
          d["method"] = m;
          d["w_bits"] = w;
          d["granularity"] = g;
          if (g == "group") d["group_size"] = group_size;
          if (a > 0) d["a_bits"] = a;
          std::string label = fmt::format("{} {} {}", m, bits[bi], g == "group" ? fmt::format("g{}", group_size) : g);
          // The scheme fields must be a valid recipe (checked again per model when the plan resolves it).
          const json doc = {{"default", d}};
          parse_recipe(doc.dump(), where(at));
          s.recipes.push_back({label, doc, where(at)});
        }
      }
  }

  // A sensitivity task names the recipes it measures by their labels: each must be one of the study's.
  void check_task_recipes(const StudySpec& s, const std::string& at) const {
    for (size_t i = 0; i < s.tasks.back().recipes.size(); ++i) {
      const std::string& label = s.tasks.back().recipes[i];
      const bool known = std::any_of(s.recipes.begin(), s.recipes.end(), [&](const StudyRecipe& r) { return r.label == label; });
      if (!known) fail_input("{}: '{}' is not a recipe of this study", where(fmt::format("{}.recipes[{}]", at, i)), label);
    }
  }

  StudyTask parse_task(const json& t, const std::string& at) const {
    require_known_fields(t, where(at),
                         {"name", "kind", "text", "path", "ctx", "windows", "protocol", "limit", "recipes"});
    StudyTask task;
    task.kind = json_string(required(t, "kind", where(at)), where(at + ".kind"));
    task.name = t.contains("name") ? json_string(t["name"], where(at + ".name")) : task.kind;
    const bool text_task = task.kind == "ppl" || task.kind == "kld" || task.kind == "sensitivity";
    if (!text_task && !is_mc_task_kind(task.kind))
      fail_input("{}: unknown task kind '{}' (expected ppl, kld, sensitivity, blimp, hellaswag, arc, piqa, winogrande, "
                 "lambada or mc)",
                 where(at + ".kind"), task.kind);
    auto forbid = [&](const char* f) {
      if (t.contains(f)) fail_input("{}: field '{}' does not apply to a {} task", where(at), f, task.kind);
    };
    if (task.kind == "sensitivity") {
      if (t.contains("recipes")) task.recipes = string_list(t["recipes"], where(at + ".recipes"));
    } else {
      forbid("recipes");
    }
    if (text_task) {
      forbid("path"), forbid("limit");
      task.path = existing_path(required(t, "text", where(at)), at + ".text");
      task.ctx = json_int(required(t, "ctx", where(at)), where(at + ".ctx"));
      if (task.ctx < 2) fail_input("{}: expected >= 2 tokens", where(at + ".ctx"));
      if (t.contains("windows")) task.windows = json_int(t["windows"], where(at + ".windows"));
      if (task.windows < 0) fail_input("{}: expected >= 0 (0 = the whole text)", where(at + ".windows"));
      task.protocol = t.contains("protocol") ? json_string(t["protocol"], where(at + ".protocol")) : "full-window";
      PplProtocol p;
      if (!ppl_protocol_from_name(task.protocol, &p))
        fail_input("{}: '{}' (expected full-window, llama.cpp or rolling)", where(at + ".protocol"), task.protocol);
    } else {
      forbid("text"), forbid("ctx"), forbid("windows"), forbid("protocol");
      task.path = existing_path(required(t, "path", where(at)), at + ".path");
      if (t.contains("limit")) task.limit = json_int(t["limit"], where(at + ".limit"));
      if (task.limit < 0) fail_input("{}: expected >= 0 (0 = all items)", where(at + ".limit"));
    }
    return task;
  }

  std::string path_;
  fs::path base_;
};

}  // namespace

std::string StudyTask::protocol_description() const {
  if (kind == "sensitivity")
    return windows > 0 ? fmt::format("KLD with one decoder linear quantized at a time, {} ctx {}, {} windows", protocol,
                                     ctx, windows)
                       : fmt::format("KLD with one decoder linear quantized at a time, {} ctx {}, whole text", protocol, ctx);
  if (kind == "ppl" || kind == "kld")
    return windows > 0 ? fmt::format("{} ctx {}, {} windows", protocol, ctx, windows)
                       : fmt::format("{} ctx {}, whole text", protocol, ctx);
  return limit > 0 ? fmt::format("{} summed log-likelihood, {} items per file", kind, limit)
                   : fmt::format("{} summed log-likelihood, all items", kind);
}

StudySpec parse_study_spec(const std::string& text, const std::string& path) { return SpecReader(path).parse(text); }

StudySpec read_study_spec(const std::string& path) { return parse_study_spec(read_text_file(path), path); }

}  // namespace quantscope
