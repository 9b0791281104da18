// A quantization recipe, resolved against the registry of a small Llama-shaped model, as
// `quantscope recipe check` and `quantize` do.
#include <string>

#include "fuzz_input.h"
#include "model/registry.h"
#include "quant/recipe.h"

using namespace quantscope;

namespace {
// stories260K's shapes (data/stories260K.bin), with grouped-query attention so kv patterns differ.
ModelConfig small_config() {
  ModelConfig c;
  c.hidden_size = 64;
  c.intermediate_size = 172;
  c.num_layers = 5;
  c.num_heads = 8;
  c.num_kv_heads = 4;
  c.head_dim = 8;
  c.vocab_size = 512;
  c.max_seq_len = 512;
  c.tie_embeddings = true;
  return c;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::init();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<TensorSpec> registry = build_registry(small_config());
  fuzz::expect_input_errors_only([&] {
    const Recipe r = parse_recipe(std::string(fuzz::as_text(data, size)), "recipe.json");
    resolve_recipe(r, registry);
  });
  return 0;
}
