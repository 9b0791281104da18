#include "quant/quantize_job.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <set>

#include "quant/quantized_model.h"

namespace quantscope {

QuantizeJobResult quantize_and_save(Model& model, const Recipe& recipe, const std::string& recipe_path,
                                    const CalibrationSet* calib, const std::string& out_dir,
                                    const std::string& tokenizer_path, const QuantizeOptions& options) {
  QuantizeJobResult r;
  r.plan = resolve_recipe(recipe, model.registry);
  const std::string source_hash = model_weights_hash(model);  // before the weights change
  model.kv_quant = recipe.kv_cache;
  r.report = quantize_model(model, r.plan, calib, options);

  std::set<std::string> methods;
  for (const auto& t : r.plan)
    if (t.scheme.quantized()) methods.insert(std::string(method_name(t.scheme.method)));
  nlohmann::json prov;
  prov["method"] = methods.empty() ? "none" : fmt::format("{}", fmt::join(methods, "+"));
  prov["recipe"] = recipe.json;
  prov["recipe_path"] = recipe_path;
  prov["calibration"] = calib ? calib->to_json() : nlohmann::json(nullptr);
  prov["source"] = {{"path", model.path}, {"format", model.format}, {"weights_hash", source_hash},
                    {"weights_hash_kind", "fnv1a64 over name + bytes of every stored registry tensor"}};
  prov["report"] = r.report.to_json();
  nlohmann::json schemes = nlohmann::json::object();
  for (const auto& t : r.plan) schemes[t.spec.name] = t.scheme.to_json();
  prov["schemes"] = schemes;
  save_quantized_model(model, out_dir, prov, tokenizer_path);
  return r;
}

}  // namespace quantscope
