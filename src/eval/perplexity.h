// Perplexity under named protocols. The protocol is part of every result's identity: numbers from
// different protocols are not comparable (docs/perplexity-protocols.md).
//
// stream: the text tokenized once, whole, without BOS/EOS.
//  full-window (papers' WikiText-2 numbers): consecutive non-overlapping pieces of ctx-1 tokens
//      (a final incomplete piece is dropped); each window is [BOS] + piece; every token of the
//      piece is scored.
//  llama.cpp (its `perplexity` tool): the text tokenized with BOS in front, S = [BOS] + stream;
//      chunks of ctx tokens, chunk j = S[j*ctx, (j+1)*ctx), its first token replaced by BOS; logits
//      at positions ctx/2 .. ctx-2 score the next token, i.e. ctx-1-ctx/2 tokens per chunk.
//  rolling (lm-evaluation-harness loglikelihood_rolling, context_len 1): the first window is
//      [BOS] + stream[0, ctx-1) and scores stream[0, ctx); each following window scores the next
//      up to ctx tokens with the ctx tokens before them as input; every token scored exactly once.
//      Also word and byte perplexity and bits per byte of the text.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "model/forward.h"

namespace quantscope {

enum class PplProtocol { FullWindow, LlamaCpp, Rolling };
std::string_view ppl_protocol_name(PplProtocol p);
bool ppl_protocol_from_name(std::string_view s, PplProtocol* out);

struct PplOptions {
  PplProtocol protocol = PplProtocol::FullWindow;
  int64_t ctx = 512;
  int64_t max_windows = 0;  // 0 = all
  bool progress = true;
};

struct PplResult {
  std::string protocol;
  int64_t ctx = 0;
  int64_t stream_tokens = 0;  // tokens in the whole text
  int64_t windows = 0;
  int64_t scored = 0;  // tokens scored
  double nll_sum = 0;  // natural log units
  double mean_nll = 0, se_mean_nll = 0;  // se = sample std / sqrt(n)
  double ppl = 0, ppl_se = 0;            // ppl_se = ppl * se_mean_nll (delta method)
  bool finite = true;                    // false when any scored token had a non-finite NLL
  // rolling only (over the text that was scored; 0 otherwise)
  int64_t words = 0, bytes = 0;
  double word_ppl = 0, byte_ppl = 0, bits_per_byte = 0;
  std::vector<float> token_nll;  // per scored token, in scoring order (paired statistics)
};

// One forward pass of a protocol: input is run from position 0; logits row first + i scores targets[i].
// Shared by perplexity() and the KLD reference (eval/kld.h) so both score exactly the same tokens.
struct PplWindow {
  std::vector<int> input;
  int64_t first = 0;         // first scored row
  std::vector<int> targets;  // targets for rows first, first+1, ...
};

// The windows of `protocol` over `stream` (see the protocol definitions above); ctx >= 2.
std::vector<PplWindow> ppl_windows(const std::vector<int>& stream, int bos_id, PplProtocol protocol, int64_t ctx);

// Runs every window and calls on_row(logits row [vocab], target) for each scored token in order,
// with logits computed in slices of 64 rows (a 150k vocabulary never needs [ctx, vocab] at once).
// Shared by perplexity, the compact reference writer and KLD so they score exactly the same rows.
void for_each_scored(Forward& fwd, const std::vector<PplWindow>& windows, const std::string& label, bool progress,
                     const std::function<void(const float* logits, int target)>& on_row);

PplResult perplexity(Forward& fwd, const std::vector<int>& stream, int bos_id, const PplOptions& options,
                     std::string_view text = {});

}  // namespace quantscope
