// quantscope generate MODEL --prompt P -n N [--temp T --top-p P --seed S]
// Prints the text to stdout as it is produced (as llama2.c's `run` does: -n counts positions,
// BOS included) and a timing line to stderr.
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "cli/command.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "eval/sampler.h"
#include "model/forward.h"

namespace quantscope::cli {
namespace {

struct GenerateOptions {
  ModelOptions model;
  std::string prompt;
  std::string tokens;
  int steps = 256;
  float temperature = 1.0f;
  float top_p = 1.0f;
  uint64_t seed = 0;
};

int run_generate(const GenerateOptions& o) {
  OpenedModel m = open_model(o.model);
  const ModelConfig& c = m.model->config;
  std::vector<int> prompt;
  if (!o.tokens.empty()) {
    prompt = parse_token_list(o.tokens, "--tokens");
  } else {
    prompt = m.require_tokenizer().encode(o.prompt, true);
  }
  if (prompt.empty()) prompt.push_back(c.bos_id);
  const int64_t steps = std::min<int64_t>(o.steps, c.max_seq_len);
  if (int64_t(prompt.size()) > steps)
    fail_input("--prompt has {} tokens but -n allows only {} positions", prompt.size(), steps);

  Forward fwd(*m.model);
  KVCache cache(c, steps);
  Sampler sampler(c.vocab_size, o.temperature, o.top_p, o.seed);
  std::vector<float> logits(size_t(c.vocab_size));
  auto emit = [&](int prev, int tok) {
    if (m.tokenizer && tok < m.tokenizer->vocab_size()) {
      // (a synthetic model's vocabulary can be larger than the tokenizer it is run with)
      const std::string piece = m.tokenizer->decode_piece(prev < m.tokenizer->vocab_size() ? prev : -1, tok);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
    } else {
      std::printf("<%d>", tok);
    }
    std::fflush(stdout);
  };
  const auto t0 = std::chrono::steady_clock::now();
  // Prefill the prompt in one batched pass (bit-identical to feeding it token by token).
  fwd.run(prompt.data(), int64_t(prompt.size()), 0, cache, logits.data(), false);
  for (size_t i = 1; i < prompt.size(); ++i) emit(prompt[i - 1], prompt[i]);
  const auto t1 = std::chrono::steady_clock::now();
  // As llama2.c: a forward pass at every position 0 .. steps-1, a token sampled after each.
  int64_t pos = int64_t(prompt.size()) - 1;  // position of the last forward pass
  int token = prompt.back();
  int64_t generated = 0;
  while (true) {
    const int next = sampler.sample(logits.data());
    if (next == c.bos_id) break;  // llama2.c stops when the model starts a new story
    emit(token, next);
    ++generated;
    token = next;
    if (++pos >= steps) break;
    fwd.run(&token, 1, pos, cache, logits.data(), false);
  }
  std::printf("\n");
  const auto t2 = std::chrono::steady_clock::now();
  const double prefill_s = std::chrono::duration<double>(t1 - t0).count();
  const double decode_s = std::chrono::duration<double>(t2 - t1).count();
  std::fprintf(stderr, "prompt %zu tokens in %.3f s; generated %lld tokens, %.1f tok/s%s\n", prompt.size(), prefill_s,
               (long long)generated, decode_s > 0 ? double(generated) / decode_s : 0.0,
               c.synthetic ? " (SYNTHETIC model: random weights)" : "");
  return 0;
}

CommandRegistration reg({"generate", "generate text from a prompt (greedy with --temp 0)", [](CLI::App& app) {
                           auto o = std::make_shared<GenerateOptions>();
                           add_model_options(app, o->model);
                           add_target_option(app, o->model);
                           app.add_option("-p,--prompt", o->prompt, "prompt text (default: empty, start from BOS)");
                           app.add_option("--tokens", o->tokens, "prompt as comma-separated token ids");
                           app.add_option("-n,--steps", o->steps, "positions to run, prompt and BOS included")
                               ->check(CLI::PositiveNumber);
                           app.add_option("--temp", o->temperature, "sampling temperature; 0 = greedy")
                               ->check(CLI::Range(0.0f, 100.0f));
                           app.add_option("--top-p", o->top_p, "nucleus sampling threshold")->check(CLI::Range(0.0f, 1.0f));
                           app.add_option("--seed", o->seed, "random seed");
                           return [o] { return run_generate(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
