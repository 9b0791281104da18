// How a deployment stores activations between ops: every tensor the forward pass writes to memory
// (embedding rows, norm outputs, linear outputs, RoPE'd queries and keys, attention outputs, the
// residual stream, the SwiGLU product, logits) is rounded to this dtype, with fp16 overflowing to inf
// exactly where the hardware's would (|x| >= 65520 after rounding). fp32 (the default, the host) is
// a no-op, so the host's forward pass is untouched. Norms and softmax still compute in fp32 and only
// their outputs are rounded, as fused NPU/GPU kernels do.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "numerics/float_formats.h"

namespace quantscope {

// The first finite value that a rounding turned into +-inf (the "where" of an fp16 overflow).
struct ActivationOverflow {
  int layer = -1;        // -1: embedding / final norm / lm_head
  std::string where;     // "mlp_residual", "mlp_down", "attn_norm", ...
  int64_t token = 0;     // row of the tensor in that call
  int64_t feature = 0;   // column
  float value = 0;       // the fp32 value before rounding
};

class ActivationStorage {
 public:
  ActivationStorage() = default;  // fp32: nothing happens
  ActivationStorage(DType dtype, Overflow overflow);
  DType dtype() const { return dtype_; }
  bool active() const { return dtype_ != DType::F32; }
  // Rounds x [rows, cols] in place; records the first overflow (in call order, then row-major).
  void store(float* x, int64_t rows, int64_t cols, int layer, const char* where) const;
  std::optional<ActivationOverflow> first_overflow() const;
  void reset_overflow() const;

 private:
  DType dtype_ = DType::F32;
  Overflow overflow_ = Overflow::ToInf;
  // Shared by copies (a Forward copies the model's setting) so the caller sees what runs found.
  struct Record {
    std::mutex mu;
    std::optional<ActivationOverflow> first;
  };
  std::shared_ptr<Record> record_ = std::make_shared<Record>();
};

}  // namespace quantscope
