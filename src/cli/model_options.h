// Options shared by every command that opens a model: the path, its tokenizer, threads.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace quantscope::cli {

struct ModelOptions {
  std::string model;
  std::string tokenizer;  // explicit tokenizer file; default: found beside the model
  int threads = 0;        // 0 = all hardware threads
  bool no_mmap = false;
};

void add_model_options(CLI::App& app, ModelOptions& o);

struct OpenedModel {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tokenizer;  // null when none was found
  // The tokenizer or an InputError explaining how to give one.
  const Tokenizer& require_tokenizer() const;
};

// Applies threads/mmap settings, loads the model and its tokenizer.
OpenedModel open_model(const ModelOptions& o);

// "1,5,9" -> ids (InputError naming the flag on bad numbers).
std::vector<int> parse_token_list(const std::string& s, const std::string& flag);

}  // namespace quantscope::cli
