// Options shared by every command that opens a model: the path, its tokenizer, threads.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "eval/open_model.h"

namespace quantscope::cli {

struct ModelOptions {
  std::string model;
  std::string tokenizer;  // explicit tokenizer file; default: found beside the model
  int threads = 0;        // 0 = all hardware threads
  bool no_mmap = false;
  std::string target;     // --target NAME|FILE: run as that hardware target would (add_target_option)
};

void add_model_options(CLI::App& app, ModelOptions& o);
// --target, for the commands that run a model (ppl, eval, generate, logits).
void add_target_option(CLI::App& app, ModelOptions& o);

// Applies threads/mmap settings, loads the model and its tokenizer (eval/open_model.h).
OpenedModel open_model(const ModelOptions& o);

// After a run under --target: one line naming the first activation that overflowed to inf (or that none
// did), for the text output; the same as JSON (null when no target or no overflow).
std::string target_overflow_line(const OpenedModel& m);
nlohmann::json target_overflow_json(const OpenedModel& m);

// "1,5,9" -> ids (InputError naming the flag on bad numbers).
std::vector<int> parse_token_list(const std::string& s, const std::string& flag);

}  // namespace quantscope::cli
