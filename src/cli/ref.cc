// quantscope ref MODEL --text F --out REF [--ctx N] [--protocol P] [--top-k 32] [--dtype f16|f32]
// Writes the compact KLD reference of MODEL over a text (eval/reference_file.h).
#include <fmt/format.h>

#include "cli/command.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "eval/kld.h"

namespace quantscope::cli {
namespace {

struct RefCliOptions {
  ModelOptions model;
  std::string text, out, protocol = "full-window", dtype = "f16";
  int64_t ctx = 0, max_windows = 0;
  int top_k = 32;
  bool quiet = false;
};

int run_ref(const RefCliOptions& o) {
  RefOptions ro;
  if (!ppl_protocol_from_name(o.protocol, &ro.protocol))
    fail_input("--protocol {}: expected full-window, llama.cpp or rolling", o.protocol);
  if (o.dtype == "f16") ro.dtype = RefDType::F16;
  else if (o.dtype == "f32") ro.dtype = RefDType::F32;
  else fail_input("--dtype {}: expected f16 or f32", o.dtype);
  OpenedModel m = open_model(o.model);
  const std::string text = read_text_file(o.text);
  const std::vector<int> stream = m.require_tokenizer().encode(text, false);
  ro.ctx = o.ctx > 0 ? o.ctx : std::min<int64_t>(m.model->config.max_seq_len, 2048);
  ro.max_windows = o.max_windows;
  ro.k = o.top_k;
  ro.model_path = o.model.model;
  ro.text_path = o.text;
  ro.progress = !o.quiet;
  Forward fwd(*m.model);
  const RefHeader h = write_reference(fwd, stream, m.model->config.bos_id, ro, o.out);
  fmt::print("wrote {}: protocol {} ctx {}, {} windows, {} scored tokens, top-{} {} log-probs ({} bytes per token)\n",
             o.out, ppl_protocol_name(h.protocol), h.ctx, h.windows, h.scored, h.k, o.dtype, h.record_bytes());
  return 0;
}

CommandRegistration reg({"ref", "write a compact top-k reference for KL divergence", [](CLI::App& app) {
                           auto o = std::make_shared<RefCliOptions>();
                           add_model_options(app, o->model);
                           app.add_option("--text", o->text, "text file")->required();
                           app.add_option("--out", o->out, "reference file to write")->required();
                           app.add_option("--ctx", o->ctx, "context length (default: model maximum, at most 2048)")
                               ->check(CLI::PositiveNumber);
                           app.add_option("--protocol", o->protocol, "full-window (default), llama.cpp or rolling");
                           app.add_option("--top-k", o->top_k, "log-probabilities kept per token (default 32)")
                               ->check(CLI::PositiveNumber);
                           app.add_option("--dtype", o->dtype, "f16 (default) or f32 storage of the log-probs");
                           app.add_option("--max-windows", o->max_windows, "only the first N windows");
                           app.add_flag("-q,--quiet", o->quiet, "no progress display");
                           return [o] { return run_ref(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
