// quantscope inspect PATH [--tensors]: what a model file or directory holds, and everything
// inconsistent in it. AscendV1 directories get the full check (interop/ascend_v1_check.h: entries
// without tensors and tensors without entries, missing or misshapen scales, deq_scale / quant_bias
// against their formulas); GGUF and safetensors files are parsed and validated by their readers;
// other model paths are loaded, which validates them against the architecture's registry.
// Exit 0 when consistent, 2 (with one line per problem) when not.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <map>

#include "cli/command.h"
#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "interop/ascend_v1_check.h"
#include "quant/quantized_model.h"

namespace quantscope::cli {
namespace {

int inspect_ascend(const std::string& dir, bool list) {
  const AscendV1Contents a = open_ascend_v1(dir);
  fmt::print("{}: AscendV1 (msModelSlim) directory\n", dir);
  fmt::print("  files            {}\n", fmt::join(a.files, ", "));
  for (const char* k : {"model_quant_type", "version", "group_size", "kv_cache_type"})
    if (a.desc.contains(k)) fmt::print("  {:<16} {}\n", k, a.desc[k].dump());
  fmt::print("  architecture     {} ({} layers, hidden {}, dtype {})\n", architecture_name(a.config.arch),
             a.config.num_layers, a.config.hidden_size, a.config.torch_dtype);
  std::map<std::string, int> by_type;
  for (const auto& [name, v] : a.desc.items())
    if (!ascend_global_key(name) && v.is_string() && name.ends_with(".weight")) by_type[v.get<std::string>()]++;
  for (const auto& [t, n] : by_type) fmt::print("  {:<16} {} .weight tensor(s)\n", t, n);
  fmt::print("  tensors          {}\n", a.tensors.tensors.size());
  if (list)
    for (const auto& [name, t] : a.tensors.tensors)
      fmt::print("    {:<64} {:<5} {:<14} {}\n", name, dtype_name(t.dtype), shape_string(t.shape),
                 a.desc.contains(name) ? a.desc[name].dump() : "(no entry)");
  const std::vector<std::string> issues = ascend_v1_issues(a);
  if (issues.empty()) {
    fmt::print("consistent: every tensor has its description entry, scales and formulas check\n");
    return 0;
  }
  for (const auto& i : issues) fmt::print(stderr, "INCONSISTENT: {}\n", i);
  fmt::print(stderr, "{}: {} problem(s)\n", dir, issues.size());
  return 2;
}

int inspect_gguf(const std::string& path, bool list) {
  const GgufFile f = read_gguf(path);
  fmt::print("{}: GGUF v{}, {} metadata keys, {} tensors, alignment {}\n", path, f.version, f.metadata.size(),
             f.tensors.size(), f.alignment);
  fmt::print("  architecture     {}\n", f.get_string_or("general.architecture", "(none)"));
  std::map<std::string, int> types;
  for (const auto& t : f.tensors) types[std::string(ggml_traits(t.type).name)]++;
  for (const auto& [t, n] : types) fmt::print("  {:<16} {} tensor(s)\n", t, n);
  if (list)
    for (const auto& t : f.tensors)
      fmt::print("    {:<40} {:<5} ne {}\n", t.name, ggml_traits(t.type).name, fmt::join(t.ne, " x "));
  fmt::print("consistent: header, metadata and tensor table parse; every tensor lies inside the file\n");
  return 0;
}

int run_inspect(const std::string& path, bool list) {
  namespace fs = std::filesystem;
  if (!fs::exists(path)) fail_input("{}: no such file or directory", path);
  if (fs::is_directory(path) && is_ascend_v1_dir(path)) return inspect_ascend(path, list);
  if (path.ends_with(".gguf")) return inspect_gguf(path, list);
  if (path.ends_with(".safetensors")) {
    const TensorSet ts = read_safetensors_file(path);
    fmt::print("{}: safetensors, {} tensors\n", path, ts.tensors.size());
    if (list)
      for (const auto& [name, t] : ts.tensors)
        fmt::print("    {:<64} {:<5} {}\n", name, dtype_name(t.dtype), shape_string(t.shape));
    fmt::print("consistent: header parses; every tensor lies inside the file without overlap\n");
    return 0;
  }
  auto m = load_any_model(path);
  fmt::print("{}: {} model, {} ({} layers); loads and binds every registry tensor\n", path, m->format,
             architecture_name(m->config.arch), m->config.num_layers);
  return 0;
}

CommandRegistration reg({"inspect", "show what a model file/directory holds and flag inconsistencies", [](CLI::App& app) {
                           auto path = std::make_shared<std::string>();
                           auto list = std::make_shared<bool>(false);
                           app.add_option("path", *path, "AscendV1 directory, .gguf, .safetensors or model")->required();
                           app.add_flag("--tensors", *list, "list every tensor");
                           return [path, list] { return run_inspect(*path, *list); };
                         }});

}  // namespace
}  // namespace quantscope::cli
