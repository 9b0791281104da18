#include "eval/perplexity.h"

#include <cmath>

#include "core/error.h"
#include "core/progress.h"
#include "kernels/ops.h"

namespace quantscope {

std::string_view ppl_protocol_name(PplProtocol p) {
  switch (p) {
    case PplProtocol::FullWindow: return "full-window";
    case PplProtocol::LlamaCpp: return "llama.cpp";
    case PplProtocol::Rolling: return "rolling";
  }
  return "?";
}

bool ppl_protocol_from_name(std::string_view s, PplProtocol* out) {
  for (PplProtocol p : {PplProtocol::FullWindow, PplProtocol::LlamaCpp, PplProtocol::Rolling})
    if (ppl_protocol_name(p) == s) {
      *out = p;
      return true;
    }
  return false;
}

namespace {

using Window = PplWindow;

std::vector<Window> make_windows(const std::vector<int>& s, int bos, const PplOptions& o) {
  const int64_t ctx = o.ctx, n = int64_t(s.size());
  std::vector<Window> w;
  switch (o.protocol) {
    case PplProtocol::FullWindow:
      for (int64_t b = 0; b + (ctx - 1) <= n; b += ctx - 1) {
        Window win;
        win.input.push_back(bos);
        win.input.insert(win.input.end(), s.begin() + b, s.begin() + b + ctx - 1);
        win.first = 0;
        win.targets.assign(s.begin() + b, s.begin() + b + ctx - 1);
        w.push_back(std::move(win));
      }
      break;
    case PplProtocol::LlamaCpp: {
      // llama.cpp tokenizes the file with BOS in front: S = [BOS] + stream.
      std::vector<int> S;
      S.reserve(s.size() + 1);
      S.push_back(bos);
      S.insert(S.end(), s.begin(), s.end());
      const int64_t ns = int64_t(S.size());
      for (int64_t j = 0; (j + 1) * ctx <= ns; ++j) {
        Window win;
        win.input.assign(S.begin() + j * ctx, S.begin() + (j + 1) * ctx);
        win.input[0] = bos;
        win.first = ctx / 2;
        // row r predicts chunk token r+1 (only position 0 was replaced by BOS)
        for (int64_t r = ctx / 2; r <= ctx - 2; ++r) win.targets.push_back(win.input[size_t(r + 1)]);
        w.push_back(std::move(win));
      }
      break;
    }
    case PplProtocol::Rolling: {
      if (n == 0) break;
      const int64_t first_len = std::min(ctx, n);
      Window win;
      win.input.push_back(bos);
      win.input.insert(win.input.end(), s.begin(), s.begin() + first_len - 1);
      win.targets.assign(s.begin(), s.begin() + first_len);
      w.push_back(std::move(win));
      int64_t predicted = first_len;
      while (predicted < n) {
        const int64_t len = std::min(n - predicted, ctx);
        const int64_t end = predicted + len;
        // input = s[end - ctx - 1, end - 1) clipped at 0 (lm-eval slices the same way)
        const int64_t in_begin = std::max<int64_t>(0, end - ctx - 1);
        Window r;
        r.input.assign(s.begin() + in_begin, s.begin() + end - 1);
        r.first = int64_t(r.input.size()) - len;
        r.targets.assign(s.begin() + predicted, s.begin() + end);
        w.push_back(std::move(r));
        predicted = end;
      }
      break;
    }
  }
  return w;
}

int64_t count_words(std::string_view text) {
  // lm-eval: len(re.split(r"\s+", doc)) — pieces between whitespace runs, including empty ends.
  int64_t pieces = 1;
  bool in_ws = false;
  for (char ch : text) {
    const bool ws = ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f' || ch == '\v';
    if (ws && !in_ws) ++pieces;
    in_ws = ws;
  }
  return pieces;
}

}  // namespace

std::vector<PplWindow> ppl_windows(const std::vector<int>& stream, int bos_id, PplProtocol protocol, int64_t ctx) {
  if (ctx < 2) fail_input("perplexity: context {} is too small (need >= 2)", ctx);
  PplOptions o;
  o.protocol = protocol;
  o.ctx = ctx;
  return make_windows(stream, bos_id, o);
}

void for_each_scored(Forward& fwd, const std::vector<PplWindow>& windows, const std::string& label, bool progress,
                     const std::function<void(const float* logits, int target)>& on_row) {
  const ModelConfig& c = fwd.model().config;
  int64_t ctx = 0, total = 0;
  for (const auto& w : windows) {
    ctx = std::max<int64_t>(ctx, int64_t(w.input.size()));
    total += int64_t(w.targets.size());
  }
  if (ctx > c.max_seq_len)
    fail_input("{}: a window of {} tokens exceeds the model's maximum sequence length {}", label, ctx, c.max_seq_len);
  constexpr int64_t kSlice = 64;  // logits rows per compute_logits call: 64 x 150k floats = 39 MB
  KVCache cache(c, std::max<int64_t>(ctx, 1));
  const int64_t V = c.vocab_size;
  std::vector<float> logits;
  Progress bar(label, total, "tok", !progress);
  for (const auto& w : windows) {
    fwd.run(w.input.data(), int64_t(w.input.size()), 0, cache, nullptr, false);
    const int64_t rows = int64_t(w.targets.size());
    for (int64_t s0 = 0; s0 < rows; s0 += kSlice) {
      const int64_t sn = std::min(kSlice, rows - s0);
      logits.resize(size_t(sn * V));
      fwd.compute_logits(w.first + s0, sn, logits.data());
      for (int64_t i = 0; i < sn; ++i) on_row(&logits[size_t(i * V)], w.targets[size_t(s0 + i)]);
    }
    bar.advance(rows);
  }
  bar.finish();
}

PplResult perplexity(Forward& fwd, const std::vector<int>& stream, int bos_id, const PplOptions& o,
                     std::string_view text) {
  if (o.ctx < 2) fail_input("perplexity: context {} is too small (need >= 2)", o.ctx);
  const ModelConfig& c = fwd.model().config;
  if (o.ctx > c.max_seq_len)
    fail_input("perplexity: context {} exceeds the model's maximum sequence length {}", o.ctx, c.max_seq_len);
  std::vector<Window> windows = make_windows(stream, bos_id, o);
  if (windows.empty())
    fail_input("perplexity: the text has {} tokens, too few for one window of context {} ({} protocol)", stream.size(),
               o.ctx, ppl_protocol_name(o.protocol));
  const bool all = o.max_windows <= 0 || o.max_windows >= int64_t(windows.size());
  if (!all) windows.resize(size_t(o.max_windows));

  PplResult r;
  r.protocol = std::string(ppl_protocol_name(o.protocol));
  r.ctx = o.ctx;
  r.stream_tokens = int64_t(stream.size());
  r.windows = int64_t(windows.size());
  const int64_t V = c.vocab_size;
  for_each_scored(fwd, windows, "ppl " + r.protocol, o.progress, [&](const float* logits, int target) {
    const double nll = -log_softmax_at(logits, V, target);
    if (!std::isfinite(nll)) r.finite = false;
    r.token_nll.push_back(float(nll));
    r.nll_sum += nll;
  });
  r.scored = int64_t(r.token_nll.size());
  r.mean_nll = r.nll_sum / double(r.scored);
  double var = 0;
  for (float x : r.token_nll) var += (double(x) - r.mean_nll) * (double(x) - r.mean_nll);
  var = r.scored > 1 ? var / double(r.scored - 1) : 0.0;
  r.se_mean_nll = std::sqrt(var / double(r.scored));
  r.ppl = std::exp(r.mean_nll);
  r.ppl_se = r.ppl * r.se_mean_nll;
  if (o.protocol == PplProtocol::Rolling && all && !text.empty()) {
    r.words = count_words(text);
    r.bytes = int64_t(text.size());
    r.word_ppl = std::exp(r.nll_sum / double(r.words));
    r.byte_ppl = std::exp(r.nll_sum / double(r.bytes));
    r.bits_per_byte = r.nll_sum / double(r.bytes) / std::log(2.0);
  }
  return r;
}

}  // namespace quantscope
