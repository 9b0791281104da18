// A linear layer y = x W^T + b as the forward pass sees it. Full-precision weights are DenseLinear;
// the quantization layer supplies its own implementations, so the forward code never changes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/large_pages.h"
#include "kernels/matmul.h"

namespace quantscope {

class Linear {
 public:
  virtual ~Linear() = default;
  virtual int64_t in_features() const = 0;
  virtual int64_t out_features() const = 0;
  // y[m, out] = x[m, in] W^T (+ b). Deterministic for any thread count.
  virtual void forward(const float* x, int64_t m, float* y) const = 0;
  // Bytes of weights (and scales) read per full pass over the layer.
  virtual uint64_t weight_bytes() const = 0;
  // "bf16", "w4 g128 asym", ... for reports.
  virtual std::string describe() const = 0;
};

// Dense f32/f16/bf16 weights viewed in place (usually memory-mapped), optional bias (fp32 copy).
class DenseLinear final : public Linear {
 public:
  DenseLinear(DenseMatrix w, std::vector<float> bias) : w_(w), bias_(std::move(bias)) {}
  int64_t in_features() const override { return w_.cols; }
  int64_t out_features() const override { return w_.rows; }
  void forward(const float* x, int64_t m, float* y) const override {
    matmul(x, m, w_, bias_.empty() ? nullptr : bias_.data(), y);
  }
  uint64_t weight_bytes() const override;
  std::string describe() const override;
  const DenseMatrix& matrix() const { return w_; }
  const std::vector<float>& bias() const { return bias_; }

 private:
  DenseMatrix w_;
  std::vector<float> bias_;
};

// Integer codes with group scales held in the kernels' layout (kernels/packed_matrix.h), e.g. GGUF
// Q8_0/Q4_0 blocks repacked once at load. forward() is matmul_packed: decode dequantizes in registers.
// Copies share the codes and scales (a tied lm_head and the token table it is read from are one copy).
class PackedLinear final : public Linear {
 public:
  // layout: every field but the pointers; codes [rows, row_bytes], scales/zeros as the layout says.
  PackedLinear(PackedCodesMatrix layout, LargeVector<uint8_t> codes, std::vector<float> scales,
               std::vector<float> zeros, std::string description);
  int64_t in_features() const override { return layout_.cols; }
  int64_t out_features() const override { return layout_.rows; }
  void forward(const float* x, int64_t m, float* y) const override;
  uint64_t weight_bytes() const override;
  std::string describe() const override { return description_; }
  PackedCodesMatrix view() const;
  const std::vector<float>& bias() const { return bias_; }
  // The checkpoint's bias (fp32, out_features values) when the architecture has one (openPangu q/k/v/o).
  void set_bias(std::vector<float> bias);

 private:
  struct Arrays {
    LargeVector<uint8_t> codes;  // streamed per token: core/large_pages.h
    std::vector<float> scales, zeros;
  };
  PackedCodesMatrix layout_;
  std::shared_ptr<const Arrays> arrays_;
  std::vector<float> bias_;
  std::string description_;
};

// Linears a loader built itself (keyed by canonical weight name), bound instead of a DenseLinear;
// bind_model gives them the checkpoint's bias.
using PreboundLinears = std::map<std::string, std::unique_ptr<PackedLinear>, std::less<>>;

// What a loader bound itself, passed to bind_model.
struct PreboundWeights {
  PreboundLinears linears;  // a tied lm_head is found under the embedding's name
  // The token table kept in integer blocks (GGUF Q8_0/Q4_0): rows are dequantized on lookup, so the
  // table is never held in fp32.
  std::unique_ptr<PackedLinear> embedding;
};

}  // namespace quantscope
