// Shared by the interop tests: a small synthetic openPangu-Embedded checkpoint (attention biases on
// q/k/v/o, GQA), quantized by a recipe with a synthetic calibration stream and saved as a quantscope
// quantized directory; logits of a model under a target.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "model/synth.h"
#include "quant/calibration.h"
#include "quant/quantize_model.h"
#include "quant/quantized_model.h"
#include "quant/recipe.h"
#include "quant_fixtures.h"
#include "targets/target_run.h"
#include "test_util.h"

namespace quantscope::test {

// hidden 128, 4 query / 2 KV heads of 32, intermediate 256, 2 layers, vocab 512, tied embeddings.
inline SynthOptions tiny_pangu(DType dt = DType::BF16) {
  SynthOptions so;
  so.arch = "openpangu-embedded-1b";
  so.layers = 2;
  so.hidden = 128;
  so.heads = 4;
  so.kv_heads = 2;
  so.intermediate = 256;
  so.vocab = 512;
  so.dtype = dt;
  so.seed = 7;
  return so;
}

// 4 layers of hidden 128 (4 query / 2 KV heads), intermediate 256, vocab 512, with 2 outlier channels
// scaled by 1000: the SwiGLU product of layer 0 passes fp16's 65504, so fp16 targets overflow where
// bf16 ones do not (TargetRun.Fp16OverflowsWhereBf16DoesNot, StudyNonFinite.OverflowNamedInTheCell).
inline SynthOptions outlier_pangu() {
  SynthOptions so;
  so.arch = "openpangu-embedded-1b";
  so.layers = 4;
  so.hidden = 128;
  so.heads = 4;
  so.kv_heads = 2;
  so.intermediate = 256;
  so.vocab = 512;
  so.outlier_channels = 2;
  so.outlier_scale = 1000.0f;
  return so;
}

// Quantizes the checkpoint at `src` by `recipe_json` (4 x 48 calibration tokens of a fixed pseudo-random
// stream) and saves it to `out`.
inline void quantize_to_dir(const std::string& src, const std::string& recipe_json, const std::string& out) {
  auto m = load_model(src);
  std::vector<int> stream(4000);
  uint64_t s = 12345;
  for (int& t : stream) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    t = 2 + int((s >> 33) % uint64_t(m->config.vocab_size - 2));
  }
  CalibrationOptions co;
  co.nsamples = 4;
  co.seqlen = 48;
  co.seed = 1;
  const CalibrationSet calib = build_calibration_from_stream(stream, co, m->config.bos_id);
  const Recipe r = parse_recipe(recipe_json, "test recipe");
  m->kv_quant = r.kv_cache;
  QuantizeOptions qo;
  qo.progress = false;
  quantize_model(*m, resolve_recipe(r, m->registry), &calib, qo);
  save_quantized_model(*m, out, {{"source", {{"path", src}}}}, "");
}

inline std::vector<float> target_logits(const std::string& path, const char* target) {
  auto m = load_any_model(path);
  apply_target(*m, load_target(target));
  return logits_of(*m, {1, 45, 300, 22, 7, 400, 13, 99, 250, 3, 18, 77});
}

}  // namespace quantscope::test
