// RTN: round-to-nearest weight quantization, each group's scale from its own range (optionally with the
// MSE clipping search). The baseline every paper compares against, e.g. GPTQ (Frantar et al., "GPTQ:
// Accurate Post-Training Quantization for Generative Pre-trained Transformers", ICLR 2023, arXiv:2210.17323)
// and LLM.int8() (Dettmers et al. 2022, arXiv:2208.07339). No calibration data.
#pragma once

#include "quant/quantizer.h"

namespace quantscope {

QuantizedWeight rtn_quantize(const float* w, int64_t rows, int64_t cols, const WeightQuantSpec& spec);

}  // namespace quantscope
