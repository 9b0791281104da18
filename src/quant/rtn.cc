// RTN (see rtn.h for the references): nothing beyond the shared quantizer, by design, so RTN is exactly
// the quantizer's round-to-nearest and every other method is measured against the same arithmetic.
#include "quant/rtn.h"

namespace quantscope {

QuantizedWeight rtn_quantize(const float* w, int64_t rows, int64_t cols, const WeightQuantSpec& spec) {
  return quantize_weight(w, rows, cols, spec);
}

}  // namespace quantscope
