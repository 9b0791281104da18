#include "eval/open_model.h"

#include "core/error.h"
#include "quant/quantized_model.h"
#include "targets/target_run.h"

namespace quantscope {

const Tokenizer& OpenedModel::require_tokenizer() const {
  if (!tokenizer)
    fail_input("{}: no tokenizer found beside the model; pass --tokenizer FILE (or use --tokens)", model->path);
  return *tokenizer;
}

OpenedModel open_model_for_run(const std::string& path, const std::string& tokenizer_path, const std::string& target) {
  OpenedModel m;
  m.model = load_any_model(path);
  if (!target.empty()) {
    const TargetRunSetup setup = apply_target(*m.model, load_target(target));
    m.target = target;
    m.target_summary = setup.summary;
  }
  // A tokenizer found beside a llama2.c model is tok<vocab>.bin and must match its vocabulary; an
  // explicit one may cover fewer ids than the model (a synthetic 153k-vocab model run with
  // tok512.bin); more ids than the model is an error below.
  m.tokenizer = load_tokenizer(path, tokenizer_path, tokenizer_path.empty() ? m.model->config.vocab_size : 0);
  if (m.tokenizer && m.tokenizer->vocab_size() > m.model->config.vocab_size)
    fail_input("{}: tokenizer has {} tokens but the model's vocabulary is {}", m.tokenizer->source(),
               m.tokenizer->vocab_size(), m.model->config.vocab_size);
  return m;
}

}  // namespace quantscope
