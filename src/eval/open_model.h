// Opening a model to evaluate it: any checkpoint or quantized directory, run as a hardware target would
// (or on the host fast path), with its tokenizer. Shared by the CLI commands that run a model and by the
// study runner, so both evaluate exactly the same thing.
#pragma once

#include <memory>
#include <string>

#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace quantscope {

struct OpenedModel {
  std::unique_ptr<Model> model;
  std::string target;                    // the target it runs under ("" = host fast path)
  std::string target_summary;            // one line: the activation dtype chosen and why ("" without target)
  std::unique_ptr<Tokenizer> tokenizer;  // null when none was found
  // The tokenizer or an InputError explaining how to give one.
  const Tokenizer& require_tokenizer() const;
};

// Loads `path` (load_any_model), applies `target` when not empty, and finds its tokenizer
// (`tokenizer_path`, or beside the model when empty).
OpenedModel open_model_for_run(const std::string& path, const std::string& tokenizer_path, const std::string& target);

}  // namespace quantscope
