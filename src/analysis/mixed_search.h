// Mixed-precision search per target: among candidate schemes the target runs, choose one per decoder
// linear to minimise the measured end-to-end KLD under a budget (SearchBudget), one of
//   bits=B          average bits per weight over the decoder linears (the emulator's storage count:
//                   codes + scales in the recipe's scale_dtype)
//   bytes=X         stored bytes of the decoder linears on the target: targets/roofline.h
//                   stored_matrix_bytes with the target's storage (target_storage), so a target that
//                   keeps scales in fp32 pays more than one that keeps them in bf16
//   decode-tok-s=Y  the whole model's roofline-projected batch-1 decode tokens/s on the target
//                   (targets/roofline.h project(), at SearchOptions::context) must be >= Y
// 1. Every candidate's per-tensor sensitivity is measured (analysis/sensitivity.h): the KLD of the
//    model with only that tensor quantized by that candidate.
// 2. Greedy allocation in the budget's own cost: bits x weights, bytes on the target, or seconds per
//    decoded token (1 / projected tok/s: the larger of memory and compute time, so not a sum over
//    tensors; every move is priced by projecting the whole allocation again, which is cheap). Start every
//    tensor at the cheapest candidate, then repeatedly take the move (tensor -> another candidate) with
//    the largest KLD reduction per unit of extra cost while the budget holds; a move that costs nothing
//    extra (e.g. a heavier weight-only scheme while decode is compute-bound) ranks before any that does.
//    The predicted KLD is the sum of the chosen tensors' KLDs (additive approximation).
// 3. The chosen recipe is verified end to end (one quantized model, measured KLD), and so is every
//    candidate applied uniformly; the chosen recipe and every candidate report all three spends (bits,
//    bytes on the target, projected decode tok/s), so predicted and measured quality and speed sit
//    side by side.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "analysis/sensitivity.h"

namespace quantscope {

enum class BudgetKind { Bits, Bytes, DecodeTokS };

struct SearchBudget {
  BudgetKind kind = BudgetKind::Bits;
  double value = 4.0;  // bits per weight, bytes, or tokens/s (by kind)
  std::string to_string() const;  // "bits=4.5", "bytes=300000", "decode-tok-s=120"
};

// "bits=4.5", "bytes=2.5e6" (also 300K, 1.5M, 2G: x 1e3, 1e6, 1e9), "decode-tok-s=120" (also K/M/G).
// The value must be finite and > 0. InputError naming `what` (the flag) and the text otherwise.
SearchBudget parse_search_budget(const std::string& text, const std::string& what);

// What a recipe spends, in each budget's units.
struct SearchSpend {
  double bits = 0;           // average bits per weight over the decoder linears
  double bytes = 0;          // stored bytes of the decoder linears on the target
  double decode_tok_s = 0;   // projected batch-1 decode tokens/s of the whole model on the target
  std::string decode_bound;  // "memory" or "compute": which time the projection says binds
};

struct SearchOptions {
  std::vector<nlohmann::json> candidates;  // recipe scheme objects; each must be quantized
  SearchBudget budget;                     // default: 4 bits per weight
  std::string target;                      // "" = host
  int64_t context = -1;  // positions in the KV cache of the projected decode token (-1: the model's max_seq_len)
  const CalibrationSet* calib = nullptr;
  KldOptions kld;
  bool progress = true;
};

struct SearchCandidate {
  nlohmann::json scheme;
  std::string describe;
  std::string refused;     // the target's rule when it cannot run this candidate ("" = usable)
  SearchSpend spent;       // when applied uniformly to the decoder linears
  MeanSe uniform_kld;      // measured, the whole model under this candidate
  std::vector<double> tensor_kld;  // per decoder linear (registry order), only that tensor quantized
};

struct SearchResult {
  std::string target;
  SearchBudget budget;
  int64_t context = 0;               // KV positions of the projected decode token
  SearchSpend spent;                 // the chosen recipe
  std::vector<std::string> tensors;  // decoder linears in registry order
  std::vector<int> choice;           // index into candidates per tensor
  std::vector<SearchCandidate> candidates;
  double predicted_kld = 0;          // sum of the chosen per-tensor KLDs
  MeanSe measured_kld;               // the chosen recipe, end to end
  nlohmann::json recipe;             // a recipe file quantscope quantize reads
  nlohmann::json to_json() const;
};

// InputError when no candidate is usable or the budget is out of reach of the cheapest usable candidate
// (the message names the budget and the cheapest achievable value).
SearchResult search_mixed_precision(const std::function<std::unique_ptr<Model>()>& load, const RefReader& ref,
                                    const SearchOptions& options);

}  // namespace quantscope
