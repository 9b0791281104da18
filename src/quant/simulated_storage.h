// Methods whose quantized form QuantizedWeight cannot hold (BiLLM's several binary bases and scales per
// row block, SliM-LLM's per-group bit widths) produce a dense dequantized fp32 matrix plus their own
// bits-per-weight accounting: their storage is SIMULATED. The forward pass and the saved model use the
// exact dequantized values; the bit count is what a packed format for the method would need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/quantizer.h"

namespace quantscope {

struct SimulatedQuant {
  std::vector<float> dequantized;  // [rows, cols]
  double bits_per_weight = 0;      // the method's storage accounting (see each method's header)
  double code_bits_per_weight = 0; // average bits of the weight codes alone (no scales or metadata)
  std::string note;                // what the accounting counts, for the report
};

// The dequantized matrix as a QuantizedWeight that reproduces it EXACTLY, so it runs through
// QuantizedLinear and save/load unchanged: 8-bit symmetric, group size 1, f32 scale |v|, code 129 for
// v >= 0 and 127 for v < 0 (value = (code - 128) * |v| = v, exact). Its own storage_bytes() is 5 bytes per weight;
// the real (simulated) storage is SimulatedQuant::bits_per_weight.
QuantizedWeight exact_weight_encoding(const std::vector<float>& deq, int64_t rows, int64_t cols);

}  // namespace quantscope
