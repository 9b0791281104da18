// Shared by the quantization tests: a small stories260K calibration set (8 x 96 tokens of
// tinystories-valid.txt, seed 1), quantizing stories260K by a recipe, and logits of a model.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "model/forward.h"
#include "quant/calibration.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace quantscope::test {

inline const CalibrationSet& small_calibration() {
  static const CalibrationSet c = [] {
    auto m = load_model(test::data_path("stories260K.bin"));
    auto tok = load_tokenizer(test::data_path("stories260K.bin"), test::data_path("tok512.bin"), m->config.vocab_size);
    std::string text = read_text_file(test::data_path("tinystories-valid.txt")).substr(0, 200000);
    CalibrationOptions o;
    o.nsamples = 8;
    o.seqlen = 96;
    o.seed = 1;
    return build_calibration_from_stream(tok->encode(text, false), o, m->config.bos_id);
  }();
  return c;
}

struct Quantized {
  std::unique_ptr<Model> model;
  QuantizeReport report;
};

inline Quantized quantize_stories(const std::string& recipe_json, bool with_calib = true) {
  Quantized q;
  q.model = load_model(test::data_path("stories260K.bin"));
  const Recipe r = parse_recipe(recipe_json, "test recipe");
  QuantizeOptions o;
  o.progress = false;
  q.report = quantize_model(*q.model, resolve_recipe(r, q.model->registry), with_calib ? &small_calibration() : nullptr, o);
  return q;
}

inline std::vector<float> logits_of(const Model& m, const std::vector<int>& ids) {
  Forward fwd(m);
  KVCache cache(m.config, int64_t(ids.size()));
  std::vector<float> out(ids.size() * size_t(m.config.vocab_size));
  fwd.run(ids.data(), int64_t(ids.size()), 0, cache, out.data(), true);
  return out;
}

}  // namespace quantscope::test
