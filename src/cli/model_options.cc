#include "cli/model_options.h"

#include <cstdlib>

#include "core/error.h"
#include "core/parallel.h"

#include <fmt/format.h>

namespace quantscope::cli {

void add_model_options(CLI::App& app, ModelOptions& o) {
  app.add_option("model", o.model, "checkpoint: llama2.c .bin, Hugging Face directory, or .gguf")->required();
  app.add_option("--tokenizer", o.tokenizer, "tokenizer file (tokenizer.bin, tokenizer.model, tokenizer.json)");
  app.add_option("-t,--threads", o.threads, "threads (default: all)")->check(CLI::NonNegativeNumber);
  app.add_flag("--no-mmap", o.no_mmap, "read weights into memory instead of memory-mapping them");
}

void add_target_option(CLI::App& app, ModelOptions& o) {
  app.add_option("--target", o.target,
                 "run with a hardware target's numerics (quantscope targets list; activations stored in its dtype)");
}

std::string target_overflow_line(const OpenedModel& m) {
  if (m.target.empty()) return "";
  const auto f = m.model->activations.first_overflow();
  if (!f) return fmt::format("target {}: no activation overflowed ({})", m.target, dtype_name(m.model->activations.dtype()));
  return fmt::format("target {}: first {} overflow to inf at layer {} {} (token {}, feature {}, value {:g})", m.target,
                     dtype_name(m.model->activations.dtype()), f->layer, f->where, f->token, f->feature, f->value);
}

nlohmann::json target_overflow_json(const OpenedModel& m) {
  if (m.target.empty()) return nullptr;
  nlohmann::json j = {{"target", m.target}, {"activation_dtype", dtype_name(m.model->activations.dtype())}};
  const auto f = m.model->activations.first_overflow();
  j["first_overflow"] = f ? nlohmann::json{{"layer", f->layer}, {"where", f->where}, {"token", f->token},
                                           {"feature", f->feature}, {"value", f->value}}
                          : nlohmann::json(nullptr);
  return j;
}

OpenedModel open_model(const ModelOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  if (o.no_mmap) ::setenv("QUANTSCOPE_NO_MMAP", "1", 1);
  OpenedModel m = open_model_for_run(o.model, o.tokenizer, o.target);
  if (!m.target_summary.empty()) fmt::print(stderr, "{}\n", m.target_summary);
  return m;
}

std::vector<int> parse_token_list(const std::string& s, const std::string& flag) {
  std::vector<int> ids;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    const std::string item = s.substr(i, j - i);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 0 || v > (1L << 30))
      fail_input("{}: '{}' is not a token id (expected comma-separated non-negative integers)", flag, item);
    ids.push_back(int(v));
    i = j + 1;
  }
  if (ids.empty()) fail_input("{}: no token ids given", flag);
  return ids;
}

}  // namespace quantscope::cli
