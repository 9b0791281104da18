// Roofline projection of a (quantized) model on a hardware target: bytes moved and operations done per
// token of batch-1 decode, per prefill of P tokens, and whether weights + KV cache fit in device memory.
// An upper bound on throughput from the target's peaks (TargetProfile::roofline), never a measurement:
//   time = max(bytes / bandwidth, float FLOPs / matmul peak + int8 ops / int8 peak + int4 ops / int4 peak)
// Units: bytes, FLOP (one multiply-add = 2), seconds, tokens/s; GB = 1e9 bytes, GiB = 2^30 bytes.
// Reference figures: ../shared/reference/ascend-numerics.md §9 (§9.3 batch-1 decode bounds) and
// openpangu.md §5 (derived sizes, bytes per decoded token).
//
// Stored form on the target (what one read of a tensor costs):
//   unquantized matrix, norm, bias  elements x dtype_size(weight_dtype)
//   weight-only quantized linear    rows x ceil(cols x w_bits / 8) (packed codes, rows padded to a byte)
//   (scheme.act.bits == 0)          + n_params x size(weight_scale_dtype) x (symmetric ? 1 : 2)
//                                   (Ascend antiquantScale / antiquantOffset: both in the scale dtype;
//                                   the scheme's own scale_dtype where weight_scale_from_recipe: the host)
//   int-activation linear           rows x ceil(cols x w_bits / 8)
//   (scheme.act.bits > 0)           + n_params x size(int_scale_dtype) x (symmetric ? 1 : 2)
//                                   (the dequant scale applied to the int32 accumulator: fp32)
//   with n_params = scale_rows x groups of QuantizedWeight::layout: scale_rows = 1 (tensor) or rows,
//   groups = ceil(cols / min(group_size, cols)) (group) or 1 (tensor, channel).
// The recipe's own scale_dtype is the emulator's choice; the target stores what its kernels take.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "model/config.h"
#include "model/kv_quant.h"
#include "quant/recipe.h"
#include "targets/target_profile.h"

namespace quantscope {

struct ProjectionOptions {
  DType activation_dtype = DType::BF16;    // activations and an unquantized KV cache on the target
  DType weight_scale_dtype = DType::BF16;  // weight-only scales/offsets (TargetProfile::weight_scale_dtype_for)
  bool weight_scale_from_recipe = false;   // weight-only scales in each scheme's own scale_dtype instead
                                           // (a target whose weight_scale_dtype is "recipe": the host)
  DType int_scale_dtype = DType::F32;      // per-channel/tensor weight scales of int-activation (W8A8) linears
  DType kv_scale_dtype = DType::F32;       // scales of a quantized KV cache (KVCacheQuant holds fp32)
  int64_t context = 0;          // decode: positions already in the KV cache that one token attends to
  int64_t prefill_tokens = 512;  // P: prompt length of the prefill projection (0: no prefill projection)
};

// Costs of one token of batch-1 decode at ProjectionOptions::context (or of one prefill token at the
// average context, see Projection).
struct TokenCost {
  // Every linear and lm_head read once in its stored form (a tied lm_head reads the embedding matrix,
  // in lm_head's scheme), + one embedding row (hidden_size elements) + every RMSNorm weight (hidden_size
  // each: 2 per layer + the final one) + every bias, all unquantized ones in weight_dtype. Bytes.
  double weight_bytes = 0;
  // K and V of every layer at `context` positions:
  //   2 x layers x context x kv_row_bytes + static scales,
  //   kv_row_bytes = kv_dim x size(activation_dtype)                                  (kv bits 0)
  //                = ceil(kv_dim x kv_bits / 8) + num_kv_heads x size(kv_scale_dtype)  (token: one scale
  //                                                                      per position and KV head)
  //                = ceil(kv_dim x kv_bits / 8)                                       (channel)
  //   static scales (channel only) = 2 x layers x kv_dim x size(kv_scale_dtype), read once per token.
  // Bytes.
  double kv_bytes = 0;
  // size(activation_dtype) x [sum over linears incl. lm_head of (cols + rows)   (input read, output written)
  //                           + 2 x layers x num_heads x context]                (attention scores written,
  //                                                                               read by softmax/PV)
  // Norms, residual adds, RoPE, SwiGLU and biases are taken as fused into their neighbours (not counted).
  // Bytes.
  double activation_bytes = 0;
  // 2 x sum over linears incl. lm_head of rows x cols + 4 x layers x num_heads x head_dim x context
  // (QK^T and PV). Bias adds, norms, softmax are not counted. FLOP. flops = float + int8 + int4.
  double flops = 0;
  double float_flops = 0;  // weight-only and unquantized linears (dequantized to the activation dtype), attention
  double int8_ops = 0;     // linears with scheme.act.bits == 8, or act 4 with w_bits > 4
  double int4_ops = 0;     // linears with scheme.act.bits == 4 and w_bits <= 4 (int8 rate if int4_tops == 0)

  double total_bytes() const { return weight_bytes + kv_bytes + activation_bytes; }
};

struct Projection {
  // Decode, one token at batch 1 attending to `context` positions.
  TokenCost decode;
  double decode_memory_s = 0;   // decode.total_bytes() / (memory_bandwidth_gb_s x 1e9)
  double decode_compute_s = 0;  // float_flops / (matmul_tflops x 1e12) + int8_ops / (int8_tops x 1e12)
                                // + int4_ops / (int4_tops x 1e12)  (int4 at the int8 rate when int4_tops
                                // is 0; int8 at the matmul rate when int8_tops is 0)
  double decode_tok_s = 0;      // 1 / max(decode_memory_s, decode_compute_s)
  std::string decode_bound;     // "memory" (memory time >= compute time) or "compute"

  // Prefill of P = prefill_tokens prompt tokens into an empty cache, one batched pass:
  //   bytes = weights read once (decode.weight_bytes + (P - 1) more embedding rows)
  //         + KV written: 2 x layers x P x kv_row_bytes (+ channel static scales once)
  //         + P x activation bytes of one token at the average context (P + 1) / 2
  //   ops   = P x per-token ops at the average context (P + 1) / 2 (position p attends to p positions,
  //           p = 1..P); lm_head is applied to all P positions (as a forward pass over the prompt does)
  //   time  = max(bytes / BW, compute time as for decode); prefill_tok_s = P / time.
  TokenCost prefill;  // totals over the P tokens (not per token)
  double prefill_memory_s = 0, prefill_compute_s = 0;
  double prefill_tok_s = 0;   // 0 when prefill_tokens is 0
  std::string prefill_bound;  // "memory" / "compute" ("" when prefill_tokens is 0)

  // Device memory: every stored tensor once (the embedding table whole, each linear, an untied or
  // separately quantized lm_head, norms, biases) + the KV cache at `context` positions. Nothing else
  // (no activations, workspace, runtime or fragmentation). Bytes.
  double total_weight_bytes = 0;
  double kv_cache_bytes_at_context = 0;  // 2 x layers x context x kv_row_bytes + channel static scales
  double memory_needed_bytes = 0;        // total_weight_bytes + kv_cache_bytes_at_context
  bool fits = false;                     // memory_needed_bytes <= memory_gib x 2^30
};

// Projects the model `cfg` whose weight matrices are `tensors` (resolve_recipe over build_registry(cfg):
// the per-layer linears, lm_head, the embedding) onto target `t`. Unquantized tensors (and norms and
// biases, from build_registry(cfg)) are stored in `weight_dtype`. InputError when the target lacks
// memory bandwidth or matmul peak, or a tensor is missing.
Projection project(const ModelConfig& cfg, DType weight_dtype, const std::vector<ResolvedTensor>& tensors,
                   const KVCacheQuant& kv, const TargetProfile& t, const ProjectionOptions& o);

// How target `t` holds a model whose checkpoint is in `model_dtype`, for project() and
// stored_matrix_bytes(): activations in the model's dtype where the target has it, else in the target's
// default (310P runs a bf16 model in fp16); weight-only scales as its kernels take them (the recipe's
// own on the host); unquantized weights in the checkpoint dtype where the target reads it or on a CPU
// (which widens any float), else in the activation dtype (an fp16-only device holds bf16 as fp16, same
// size). ProjectionOptions::context and prefill_tokens are left at their defaults.
struct TargetStorage {
  ProjectionOptions options;
  DType weight_dtype = DType::BF16;
};
TargetStorage target_storage(const TargetProfile& t, DType model_dtype);

// Stored bytes of one weight matrix on the target (see the table at the top).
double stored_matrix_bytes(const ResolvedTensor& r, DType weight_dtype, const ProjectionOptions& o);

}  // namespace quantscope
