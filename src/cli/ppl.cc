// quantscope ppl MODEL --text FILE [--ctx N] [--protocol full-window|llama.cpp|rolling] [--json OUT]
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/build_info.h"
#include "cli/command.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"
#include "eval/perplexity.h"
#include "quant/quantized_linear.h"

namespace quantscope::cli {
namespace {

struct PplCliOptions {
  ModelOptions model;
  std::string text, json, protocol = "full-window";
  int64_t ctx = 0;
  int64_t max_windows = 0;
  bool quiet = false;
};

nlohmann::json ppl_json(const PplResult& r, const Model& m, const std::string& text_path) {
  nlohmann::json j;
  j["model"] = m.path;
  j["synthetic"] = m.config.synthetic;
  j["text"] = text_path;
  j["protocol"] = r.protocol;
  j["ctx"] = r.ctx;
  j["stream_tokens"] = r.stream_tokens;
  j["windows"] = r.windows;
  j["scored_tokens"] = r.scored;
  j["nll_sum"] = r.nll_sum;
  j["mean_nll"] = r.mean_nll;
  j["se_mean_nll"] = r.se_mean_nll;
  j["ppl"] = r.finite ? nlohmann::json(r.ppl) : nlohmann::json("non-finite");
  j["ppl_se"] = r.ppl_se;
  if (const auto e = first_non_finite())
    j["first_non_finite"] = {{"tensor", e->tensor}, {"where", e->where}, {"token", e->token}, {"feature", e->feature}};
  if (r.words > 0) {
    j["words"] = r.words;
    j["bytes"] = r.bytes;
    j["word_perplexity"] = r.word_ppl;
    j["byte_perplexity"] = r.byte_ppl;
    j["bits_per_byte"] = r.bits_per_byte;
  }
  j["quantscope_version"] = build_version();
  j["commit"] = build_commit();
  return j;
}

int run_ppl(const PplCliOptions& o) {
  PplOptions po;
  if (!ppl_protocol_from_name(o.protocol, &po.protocol))
    fail_input("--protocol {}: expected full-window, llama.cpp or rolling", o.protocol);
  OpenedModel m = open_model(o.model);
  const std::string text = read_text_file(o.text);
  const Tokenizer& tok = m.require_tokenizer();
  const std::vector<int> stream = tok.encode(text, false);
  po.ctx = o.ctx > 0 ? o.ctx : std::min<int64_t>(m.model->config.max_seq_len, 2048);
  po.max_windows = o.max_windows;
  po.progress = !o.quiet;
  Forward fwd(*m.model);
  reset_non_finite();
  NonFiniteTap tap(*m.model);  // records the first linear whose input holds a NaN/Inf
  fwd.set_tap(&tap);
  const PplResult r = perplexity(fwd, stream, m.model->config.bos_id, po, text);
  const std::string ppl = r.finite ? fmt::format("{:.6f} +/- {:.6f}", r.ppl, r.ppl_se) : std::string("non-finite");
  fmt::print("protocol {} ctx {}: {} windows, {} tokens scored of {} in the text\n", r.protocol, r.ctx, r.windows,
             r.scored, r.stream_tokens);
  fmt::print("perplexity {}  (mean NLL {:.6f} +/- {:.6f} nats/token){}\n", ppl, r.mean_nll, r.se_mean_nll,
             m.model->config.synthetic ? "  SYNTHETIC model" : "");
  if (const auto e = first_non_finite())
    fmt::print("first non-finite value: {} of {} at token {} of its window, feature {} ({})\n", e->where, e->tensor,
               e->token, e->feature, e->value);
  if (!m.target.empty()) fmt::print("{}\n", target_overflow_line(m));
  if (r.words > 0)
    fmt::print("word perplexity {:.6f}  byte perplexity {:.6f}  bits per byte {:.6f}\n", r.word_ppl, r.byte_ppl,
               r.bits_per_byte);
  if (!o.json.empty()) {
    nlohmann::json j = ppl_json(r, *m.model, o.text);
    j["target"] = target_overflow_json(m);
    write_file_atomic(o.json, j.dump(2) + "\n");
  }
  return 0;
}

CommandRegistration reg({"ppl", "perplexity of a text under a named protocol", [](CLI::App& app) {
                           auto o = std::make_shared<PplCliOptions>();
                           add_model_options(app, o->model);
                           add_target_option(app, o->model);
                           app.add_option("--text", o->text, "text file")->required();
                           app.add_option("--ctx", o->ctx, "context length (default: model maximum, at most 2048)")
                               ->check(CLI::PositiveNumber);
                           app.add_option("--protocol", o->protocol, "full-window (default), llama.cpp or rolling");
                           app.add_option("--max-windows", o->max_windows, "score only the first N windows");
                           app.add_option("--json", o->json, "write the result as JSON");
                           app.add_flag("-q,--quiet", o->quiet, "no progress display");
                           return [o] { return run_ppl(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
