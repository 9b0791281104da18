// GGUF Q8_0 and Q4_0 weights kept quantized: their blocks are repacked once at load into the kernels'
// layout (kernels/packed_matrix.h) and run by matmul_packed, instead of being dequantized to fp32.
//   Q8_0 block (fp16 d, 32 x int8 q): code = q + 128, zero point 128, scale d -> (code - 128) * d = q * d
//   Q4_0 block (fp16 d, 16 bytes: low nibbles = elements 0-15, high = 16-31): code = the nibble, zero
//        point 8, scale d -> (q - 8) * d
// Both are exactly what llama.cpp's dequantize_row_* computes (the subtraction is exact in fp32), so a
// packed model's logits are bit-identical to the dequantized-at-load model's (tested). Scales are held
// as fp32 (exact widenings of the fp16 d), one per 32 weights.
#pragma once

#include <memory>

#include "formats/gguf.h"
#include "model/linear.h"

namespace quantscope {

bool gguf_type_packable(GgmlType t);  // Q8_0, Q4_0

// A 2-D Q8_0/Q4_0 tensor [rows = ne[1], cols = ne[0]] as a PackedLinear.
std::unique_ptr<PackedLinear> gguf_packed_linear(const GgufTensor& t);

}  // namespace quantscope
