// quantscope info MODEL: architecture, shapes, parameters, dtypes, bytes, tokenizer.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>

#include "cli/command.h"
#include "cli/model_options.h"

namespace quantscope::cli {
namespace {

int run_info(const ModelOptions& o, bool json) {
  OpenedModel m = open_model(o);
  const ModelConfig& c = m.model->config;
  std::map<std::string, int64_t> dtype_params;
  for (const auto& spec : m.model->registry) {
    if (!spec.stored) continue;
    const TensorView* t = m.model->tensors.find(spec.name);
    dtype_params[std::string(dtype_name(t->dtype))] += t->numel();
  }
  const int64_t params = m.model->parameter_count();
  const uint64_t bytes = m.model->weight_bytes();
  if (json) {
    nlohmann::json j;
    j["path"] = m.model->path;
    j["format"] = m.model->format;
    j["architecture"] = architecture_name(c.arch);
    j["synthetic"] = c.synthetic;
    j["hidden_size"] = c.hidden_size;
    j["intermediate_size"] = c.intermediate_size;
    j["num_layers"] = c.num_layers;
    j["num_heads"] = c.num_heads;
    j["num_kv_heads"] = c.num_kv_heads;
    j["head_dim"] = c.head_dim;
    j["vocab_size"] = c.vocab_size;
    j["max_seq_len"] = c.max_seq_len;
    j["rope_theta"] = c.rope_theta;
    j["tie_embeddings"] = c.tie_embeddings;
    j["parameters"] = params;
    j["weight_bytes"] = bytes;
    j["dtypes"] = dtype_params;
    j["tokenizer"] = m.tokenizer ? m.tokenizer->kind() + " " + m.tokenizer->source() : "none";
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("model        {}\n", m.model->path);
  fmt::print("format       {}\n", m.model->format);
  fmt::print("architecture {}{}\n", architecture_name(c.arch), c.synthetic ? "  (SYNTHETIC: random weights)" : "");
  fmt::print("layers       {}\n", c.num_layers);
  fmt::print("hidden       {}  intermediate {}\n", c.hidden_size, c.intermediate_size);
  fmt::print("heads        {} query / {} key-value, head_dim {}\n", c.num_heads, c.num_kv_heads, c.head_dim);
  fmt::print("vocab        {}  max positions {}\n", c.vocab_size, c.max_seq_len);
  fmt::print("rope         theta {} ({})\n", c.rope_theta, c.rope_style == RopeStyle::Interleaved ? "interleaved pairs" : "rotate_half");
  fmt::print("biases       q/k/v {}  o {}\n", c.qkv_bias ? "yes" : "no", c.o_bias ? "yes" : "no");
  fmt::print("embeddings   {}\n", c.tie_embeddings ? "tied (lm_head = embed_tokens)" : "untied");
  fmt::print("parameters   {} ({:.3f} M)\n", params, double(params) / 1e6);
  for (const auto& [d, n] : dtype_params) fmt::print("  {:5}      {} parameters\n", d, n);
  fmt::print("weight bytes {} ({:.2f} MiB)\n", bytes, double(bytes) / (1024.0 * 1024.0));
  fmt::print("tokenizer    {}\n", m.tokenizer ? m.tokenizer->kind() + " (" + m.tokenizer->source() + ")" : "none found");
  return 0;
}

CommandRegistration reg({"info", "show a model's architecture, shapes, parameters, dtypes and tokenizer",
                         [](CLI::App& app) {
                           auto o = std::make_shared<ModelOptions>();
                           auto json = std::make_shared<bool>(false);
                           add_model_options(app, *o);
                           app.add_flag("--json", *json, "print JSON");
                           return [o, json] { return run_info(*o, *json); };
                         }});

}  // namespace
}  // namespace quantscope::cli
