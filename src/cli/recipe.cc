// quantscope recipe check R.json MODEL: the resolved scheme of every weight matrix, bits per weight, bytes.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/file_io.h"
#include "quant/recipe.h"

namespace quantscope::cli {
namespace {

struct RecipeCliOptions {
  std::string recipe, model, json;
};

DType full_dtype(const Model& m, const TensorSpec& s) {
  const TensorView* t = m.tensors.find(s.stored ? s.name : global_tensor_name(TensorRole::Embedding));
  return t ? t->dtype : DType::F32;
}

int run_recipe_check(const RecipeCliOptions& o) {
  const Recipe r = read_recipe(o.recipe);
  LoadOptions lo;
  lo.check_finite = false;
  const auto m = load_model(o.model, lo);
  const auto plan = resolve_recipe(r, m->registry);
  nlohmann::json out = nlohmann::json::array();
  uint64_t full_bytes = 0, q_bytes = 0;
  int64_t weights = 0;
  fmt::print("{:<48} {:>12} {:>7} {:>11}  {}\n", "tensor", "shape", "bits/w", "bytes", "scheme");
  for (const auto& t : plan) {
    const DType dt = full_dtype(*m, t.spec);
    // A tied lm_head left in full precision is the embedding: no bytes of its own.
    const bool shared = !t.spec.stored && !t.scheme.quantized();
    const uint64_t b = shared ? 0 : t.bytes(dt);
    fmt::print("{:<48} {:>12} {:>7.3f} {:>11}  {}{}\n", t.spec.name, shape_string(t.spec.shape),
               t.bits_per_weight(dt), b, t.scheme.describe(), shared ? " (tied to the embedding)" : "");
    if (!shared) {
      full_bytes += uint64_t(t.rows() * t.cols()) * dtype_size(dt);
      q_bytes += b;
      weights += t.rows() * t.cols();
    }
    nlohmann::json e = t.scheme.to_json();
    e["tensor"] = t.spec.name;
    e["bits_per_weight"] = t.bits_per_weight(dt);
    e["bytes"] = b;
    e["set_by"] = t.set_by;
    out.push_back(e);
  }
  fmt::print("weight matrices: {} weights, {} bytes full precision -> {} bytes ({:.3f} bits/weight)\n", weights,
             full_bytes, q_bytes, weights ? 8.0 * double(q_bytes) / double(weights) : 0.0);
  if (r.kv_cache.enabled()) fmt::print("KV cache: {} (emulated: values rounded as they enter the cache)\n", r.kv_cache.describe());
  if (!o.json.empty()) write_file_atomic(o.json, out.dump(2) + "\n");
  return 0;
}

CommandRegistration reg({"recipe", "check a quantization recipe against a model", [](CLI::App& app) {
                           auto o = std::make_shared<RecipeCliOptions>();
                           app.require_subcommand(1);
                           CLI::App* check = app.add_subcommand("check", "print the resolved scheme of every tensor");
                           check->add_option("recipe", o->recipe, "recipe JSON")->required();
                           check->add_option("model", o->model, "model checkpoint")->required();
                           check->add_option("--json", o->json, "write the resolved plan as JSON");
                           return [o] { return run_recipe_check(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
