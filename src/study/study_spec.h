// A study definition (studies/*.json), parsed strictly: every unknown field, wrong type or impossible
// value is an InputError naming the file and the JSON path. Relative paths are taken from the spec
// file's own directory, so a study runs the same from any working directory (and on any Slurm node).
//
//   {
//     "name": "tiny",
//     "models": ["../data/stories260K.bin"],
//     "tokenizer": "../data/tok512.bin",                       optional (default: found beside the model)
//     "calibration": {"files": ["../data/tinystories-valid.txt"], "samples": 8, "tokens": 64},
//     "seeds": [0],                                           calibration sampling seeds (default [0])
//     "baseline": true,                                       also evaluate the unquantized model
//     "recipes": {
//       "grid": [{"methods": ["rtn", "gptq"], "bits": ["W8", "W4", "W8A8"], "granularity": ["group"],
//                 "group_size": 32, "scheme": {"symmetric": true}}],   scheme: more recipe scheme fields
//       "files": ["../recipes/mixed.json"]                             explicit recipes
//     },
//     "targets": ["host", "ascend-910b1"],
//     "tasks": [{"kind": "ppl", "text": "../data/tinystories-valid.txt", "ctx": 128, "windows": 4},
//               {"kind": "kld", "text": "../data/tinystories-valid.txt", "ctx": 128, "windows": 4},
//               {"kind": "blimp", "path": "../data/blimp", "limit": 2},
//               {"kind": "sensitivity", "text": "../data/tinystories-valid.txt", "ctx": 128, "windows": 4,
//                "recipes": ["rtn W4 g32"]}],                     recipes: labels (default: every recipe)
//     "threads": 1                                            threads per process (default: all)
//   }
// Task kinds: ppl (perplexity of a text, protocol full-window | llama.cpp | rolling), kld (KL divergence
// of each model against the unquantized model over a text), sensitivity (the KLD of the model with only
// one decoder linear quantized by the recipe's scheme, for every linear: analysis/sensitivity.h; uniform
// recipes only), and the multiple-choice kinds of
// eval/mc_task.h (blimp, hellaswag, arc, piqa, winogrande, lambada, mc) over `path`.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace quantscope {

struct StudyCalibration {
  std::vector<std::string> files;  // absolute paths
  int64_t samples = 32;            // N samples
  int64_t tokens = 128;            // tokens per sample, BOS included
};

// One recipe of the study: from the grid (its generated JSON) or a file (its JSON as written).
struct StudyRecipe {
  std::string label;    // "gptq W4 group32", or the file's stem
  nlohmann::json json;  // the recipe document (quant/recipe.h)
  std::string source;   // "paper.json: recipes.grid[0]" or the recipe file path, for messages
};

struct StudyTask {
  std::string name;      // unique in the study (default: the kind)
  std::string kind;      // ppl | kld | an mc kind
  std::string path;      // the text (ppl, kld) or task file/dir (mc), absolute
  std::string protocol;  // ppl/kld: full-window | llama.cpp | rolling; mc: "" (scoring is fixed)
  int64_t ctx = 0;       // ppl/kld: tokens per window
  int64_t windows = 0;   // ppl/kld: windows scored (0 = the whole text)
  int64_t limit = 0;     // mc: items per file (BLiMP: per phenomenon), 0 = all
  std::vector<std::string> recipes;  // sensitivity: the recipe labels it measures (empty = every recipe)
  // What the metric was measured under, stored beside every value ("full-window ctx 128, 4 windows").
  std::string protocol_description() const;
};

struct StudySpec {
  std::string path;  // the spec file
  std::string name;
  std::vector<std::string> models;  // absolute paths
  std::string tokenizer;            // absolute path or "" (found beside each model)
  StudyCalibration calibration;
  std::vector<uint64_t> seeds{0};
  bool baseline = true;
  std::vector<StudyRecipe> recipes;  // grid expansion in order, then files
  std::vector<std::string> targets;
  std::vector<StudyTask> tasks;
  int threads = 0;  // 0 = all hardware threads
};

StudySpec parse_study_spec(const std::string& text, const std::string& path);
StudySpec read_study_spec(const std::string& path);

}  // namespace quantscope
