// quantscope logits MODEL (--tokens 1,5,9 | --text FILE) --out FILE.npy
// fp32 logits of every position as a NumPy array [positions, vocab], for parity checks.
#include <fmt/format.h>

#include "cli/command.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/npy.h"
#include "model/forward.h"

namespace quantscope::cli {
namespace {

struct LogitsOptions {
  ModelOptions model;
  std::string tokens, text, out;
  bool no_bos = false;
};

int run_logits(const LogitsOptions& o) {
  if (o.tokens.empty() == o.text.empty()) fail_input("give exactly one of --tokens and --text");
  OpenedModel m = open_model(o.model);
  const ModelConfig& c = m.model->config;
  std::vector<int> ids = !o.tokens.empty() ? parse_token_list(o.tokens, "--tokens")
                                           : m.require_tokenizer().encode(read_text_file(o.text), !o.no_bos);
  if (int64_t(ids.size()) > c.max_seq_len)
    fail_input("{} tokens exceed the model's maximum of {} positions", ids.size(), c.max_seq_len);
  Forward fwd(*m.model);
  KVCache cache(c, int64_t(ids.size()));
  std::vector<float> logits(ids.size() * size_t(c.vocab_size));
  fwd.run(ids.data(), int64_t(ids.size()), 0, cache, logits.data(), true);
  write_npy_f32(o.out, {int64_t(ids.size()), c.vocab_size}, logits.data());
  fmt::print("wrote {} ([{}, {}] fp32 logits)\n", o.out, ids.size(), c.vocab_size);
  return 0;
}

CommandRegistration reg({"logits", "dump the fp32 logits of every position as .npy", [](CLI::App& app) {
                           auto o = std::make_shared<LogitsOptions>();
                           add_model_options(app, o->model);
                           add_target_option(app, o->model);
                           app.add_option("--tokens", o->tokens, "comma-separated token ids");
                           app.add_option("--text", o->text, "text file to tokenize (BOS prepended)");
                           app.add_flag("--no-bos", o->no_bos, "do not prepend BOS to --text");
                           app.add_option("--out", o->out, "output .npy")->required();
                           return [o] { return run_logits(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
