// Mixed-precision search per target: among candidate schemes the target runs, choose one per decoder
// linear to minimise the measured end-to-end KLD under a budget of average bits per weight.
// 1. Every candidate's per-tensor sensitivity is measured (analysis/sensitivity.h): the KLD of the
//    model with only that tensor quantized by that candidate.
// 2. Greedy allocation: start every tensor at the cheapest candidate, then repeatedly take the upgrade
//    (tensor -> a more expensive candidate) with the largest KLD reduction per extra bit, while the
//    budget holds. The predicted KLD is the sum of the chosen tensors' KLDs (additive approximation).
// 3. The chosen recipe is verified end to end (one quantized model, measured KLD), and so is every
//    candidate applied uniformly, so the search is judged against uniform recipes at similar bits.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "analysis/sensitivity.h"

namespace quantscope {

struct SearchOptions {
  std::vector<nlohmann::json> candidates;  // recipe scheme objects; each must be quantized
  double budget_bits = 4.0;                // average bits per weight over the decoder linears
  std::string target;                      // "" = host
  const CalibrationSet* calib = nullptr;
  KldOptions kld;
  bool progress = true;
};

struct SearchCandidate {
  nlohmann::json scheme;
  std::string describe;
  std::string refused;     // the target's rule when it cannot run this candidate ("" = usable)
  double bits = 0;         // average bits per weight over the decoder linears when applied uniformly
  MeanSe uniform_kld;      // measured, the whole model under this candidate
  std::vector<double> tensor_kld;  // per decoder linear (registry order), only that tensor quantized
};

struct SearchResult {
  std::string target;
  double budget_bits = 0, bits = 0;  // the budget and what the chosen recipe spends
  std::vector<std::string> tensors;  // decoder linears in registry order
  std::vector<int> choice;           // index into candidates per tensor
  std::vector<SearchCandidate> candidates;
  double predicted_kld = 0;          // sum of the chosen per-tensor KLDs
  MeanSe measured_kld;               // the chosen recipe, end to end
  nlohmann::json recipe;             // a recipe file quantscope quantize reads
  nlohmann::json to_json() const;
};

// InputError when no candidate is usable or the budget is below the cheapest candidate.
SearchResult search_mixed_precision(const std::function<std::unique_ptr<Model>()>& load, const RefReader& ref,
                                    const SearchOptions& options);

}  // namespace quantscope
