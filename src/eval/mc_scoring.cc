#include "eval/mc_scoring.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/progress.h"
#include "kernels/ops.h"
#include "tokenizer/utf8.h"

namespace quantscope {

namespace {

constexpr int64_t kSlice = 64;  // logits rows per compute_logits call

struct Encoded {
  std::vector<int> input;  // [BOS] + whole, cut from the left to the model's maximum
  int64_t first = 1;       // index in input of the first scored (continuation) token
};

Encoded encode_choice(const Tokenizer& tok, int bos, const McChoice& c, int64_t max_len, const McItem& item) {
  std::string ctx = c.context, cont = c.continuation;
  const size_t keep = ctx.find_last_not_of(' ');
  const size_t n_spaces = keep == std::string::npos ? ctx.size() : ctx.size() - keep - 1;
  if (n_spaces > 0) {
    cont = ctx.substr(ctx.size() - n_spaces) + cont;
    ctx.resize(ctx.size() - n_spaces);
  }
  const std::vector<int> whole = tok.encode(ctx + cont, false);
  const size_t n_ctx = ctx.empty() ? 0 : tok.encode(ctx, false).size();
  if (whole.size() <= n_ctx)
    fail_input("{}:{}: the continuation '{}' adds no tokens to its context", item.file, item.line, c.continuation);
  Encoded e;
  e.input.reserve(whole.size() + 1);
  e.input.push_back(bos);
  e.input.insert(e.input.end(), whole.begin(), whole.end());
  e.first = 1 + int64_t(n_ctx);
  const int64_t n = int64_t(e.input.size());
  if (n > max_len) {
    const int64_t cut = n - max_len;
    e.input.erase(e.input.begin(), e.input.begin() + cut);
    e.first = std::max<int64_t>(1, e.first - cut);  // a continuation longer than the window loses its start
  }
  return e;
}

struct ChoiceScore {
  double loglik = 0;
  bool greedy = true;
  int64_t tokens = 0;
};

// Scores rows `first-1 .. n-2` of input against tokens first .. n-1. The cache already holds
// positions [0, prefix) from a shared run whose last logits row is prefix_last ([V]).
ChoiceScore score_suffix(Forward& fwd, KVCache& cache, const Encoded& e, int64_t prefix,
                         const std::vector<float>& prefix_last, std::vector<float>& logits) {
  const int64_t V = fwd.model().config.vocab_size, n = int64_t(e.input.size());
  ChoiceScore s;
  auto score_row = [&](const float* row, int target) {
    s.loglik += log_softmax_at(row, V, target);
    const float* best = std::max_element(row, row + V);  // first maximum: lowest id on ties
    if (int64_t(best - row) != target) s.greedy = false;
    ++s.tokens;
  };
  fwd.run(e.input.data() + prefix, n - prefix, prefix, cache, nullptr, false);
  int64_t p = e.first;  // next scored token index; its logits are row p-1
  if (p - 1 < prefix) {
    // only p == prefix is possible: the shared prefix stops at the first scored token of any choice
    score_row(prefix_last.data(), e.input[size_t(p)]);
    ++p;
  }
  while (p < n) {
    const int64_t rows = std::min(kSlice, n - p);
    logits.resize(size_t(rows * V));
    fwd.compute_logits(p - 1 - prefix, rows, logits.data());
    for (int64_t i = 0; i < rows; ++i) score_row(&logits[size_t(i * V)], e.input[size_t(p + i)]);
    p += rows;
  }
  return s;
}

}  // namespace

int64_t codepoint_count(const std::string& s) {
  int64_t n = 0;
  for (char ch : s)
    if (!utf8_is_continuation(uint8_t(ch))) ++n;
  return n;
}

McResult score_mc_task(Forward& fwd, const Tokenizer& tok, int bos, const McTask& task, const McScoringOptions& o) {
  const ModelConfig& c = fwd.model().config;
  McResult r;
  r.name = task.name;
  r.path = task.path;
  r.metric = task.metric == McMetric::Greedy ? "greedy" : "choice";
  r.invalid = task.invalid;
  r.report_acc_norm = task.report_acc_norm;
  KVCache cache(c, c.max_seq_len);
  std::vector<float> prefix_last(static_cast<size_t>(c.vocab_size)), logits;
  std::map<std::string, size_t> group_index;
  int64_t correct = 0, correct_norm = 0;
  double greedy_ll = 0;
  Progress bar("eval " + task.name, int64_t(task.items.size()), "item", !o.progress);
  for (const McItem& item : task.items) {
    std::vector<Encoded> enc;
    for (const McChoice& ch : item.choices) enc.push_back(encode_choice(tok, bos, ch, c.max_seq_len, item));
    // shared prefix: common tokens of all inputs, stopping at the first scored token of any choice
    int64_t prefix = 0;
    if (o.prefix_reuse) {
      prefix = enc[0].first;
      for (const Encoded& e : enc) {
        prefix = std::min(prefix, e.first);
        int64_t k = 0;
        while (k < prefix && e.input[size_t(k)] == enc[0].input[size_t(k)]) ++k;
        prefix = k;
      }
      if (prefix > 0) fwd.run(enc[0].input.data(), prefix, 0, cache, prefix_last.data(), false);
    }
    std::vector<ChoiceScore> scores;
    for (const Encoded& e : enc) scores.push_back(score_suffix(fwd, cache, e, prefix, prefix_last, logits));
    bool ok = false;
    if (task.metric == McMetric::Greedy) {
      ok = scores[size_t(item.answer)].greedy;
      greedy_ll += scores[size_t(item.answer)].loglik;
    } else {
      size_t best = 0, best_norm = 0;
      auto norm = [&](size_t i) { return scores[i].loglik / double(std::max<int64_t>(1, codepoint_count(item.choices[i].continuation))); };
      for (size_t i = 1; i < scores.size(); ++i) {
        if (scores[i].loglik > scores[best].loglik) best = i;
        if (norm(i) > norm(best_norm)) best_norm = i;
      }
      ok = int(best) == item.answer;
      if (int(best_norm) == item.answer) ++correct_norm;
    }
    for (const ChoiceScore& s : scores) {
      r.loglik.push_back(s.loglik);
      r.tokens_scored += s.tokens;
    }
    correct += ok;
    r.correct.push_back(ok);
    if (!item.group.empty()) {
      auto [it, added] = group_index.emplace(item.group, r.groups.size());
      if (added) {
        McGroupResult g;
        g.group = item.group;
        r.groups.push_back(g);
      }
      McGroupResult& g = r.groups[it->second];
      ++g.n;
      g.correct += ok;
    }
    bar.advance(1);
  }
  bar.finish();
  r.n = int64_t(task.items.size());
  r.acc = proportion(correct, r.n);
  r.acc_norm = proportion(task.metric == McMetric::Greedy ? correct : correct_norm, r.n);
  if (task.metric == McMetric::Greedy) r.ppl = std::exp(-greedy_ll / double(r.n));
  for (McGroupResult& g : r.groups) g.acc = proportion(g.correct, g.n);
  return r;
}

}  // namespace quantscope
