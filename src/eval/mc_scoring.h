// Scores multiple-choice tasks by summed log-likelihood of each continuation (lm-evaluation-harness
// loglikelihood requests). Tokenization as its _encode_pair: trailing spaces of the context move to
// the continuation, whole = encode(context + continuation), context_enc = encode(context), the
// continuation tokens are whole[len(context_enc):]. Input = [BOS] + whole (the BOS plays the role of
// lm-eval's prefix token for an empty context). Inputs longer than the model's maximum are cut from
// the left, as lm-eval does.
//
// Prefix reuse: the tokens all choices of an item share (up to the first scored token) run once;
// each choice then runs only its suffix on the same KV cache. The forward pass is bit-identical for
// any split of a sequence into calls, so this changes no score (tested).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eval/mc_task.h"
#include "eval/stats.h"
#include "model/forward.h"
#include "tokenizer/tokenizer.h"

namespace quantscope {

struct McScoringOptions {
  bool prefix_reuse = true;
  bool progress = true;
};

struct McGroupResult {
  std::string group;
  int64_t n = 0, correct = 0;
  MeanSe acc;
};

struct McResult {
  std::string name, path, metric;  // metric: "choice" or "greedy"
  int64_t n = 0, invalid = 0, tokens_scored = 0;
  MeanSe acc, acc_norm;
  bool report_acc_norm = false;
  double ppl = 0;  // greedy tasks: exp(-mean over items of the continuation log-likelihood)
  std::vector<McGroupResult> groups;  // in order of first appearance; empty when no item has a group
  std::vector<uint8_t> correct;       // per item (paired tests between runs)
  std::vector<double> loglik;         // per item and choice, flattened in item order
};

McResult score_mc_task(Forward& fwd, const Tokenizer& tok, int bos_id, const McTask& task,
                       const McScoringOptions& options);

// Number of Unicode codepoints (Python len()) — acc_norm divides by it.
int64_t codepoint_count(const std::string& s);

}  // namespace quantscope
