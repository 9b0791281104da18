#include "targets/roofline.h"

#include <algorithm>

#include "core/error.h"
#include "model/registry.h"

namespace quantscope {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// Which arithmetic a linear runs on.
enum class Arith { Float, Int8, Int4 };

Arith arithmetic_of(const Scheme& s) {
  if (!s.quantized() || s.act.bits == 0) return Arith::Float;  // weight-only: dequantized, float matmul
  if (s.act.bits == 4 && s.weight.bits <= 4) return Arith::Int4;
  return Arith::Int8;  // a8 (w8a8, w4a8), or a4 with wider weights
}

// Parameters (scales; offsets too when asymmetric) of a quantized matrix: the layout of
// QuantizedWeight::layout, computed here because layout() also allocates rows x cols codes.
int64_t scale_params(int64_t rows, int64_t cols, const WeightQuantSpec& w) {
  const int64_t gs = w.granularity == Granularity::Group ? std::min(w.group_size, cols) : cols;
  const int64_t groups = (cols + gs - 1) / gs;
  const int64_t scale_rows = w.granularity == Granularity::Tensor ? 1 : rows;
  return scale_rows * groups;
}

// Bytes of one position's K (or V) row of one layer in the cache (see TokenCost::kv_bytes).
double kv_row_bytes(const ModelConfig& cfg, const KVCacheQuant& kv, const ProjectionOptions& o) {
  const int64_t kvd = cfg.kv_dim();
  if (!kv.enabled()) return double(kvd) * double(dtype_size(o.activation_dtype));
  double b = double((kvd * kv.bits + 7) / 8);
  if (kv.granularity == KVGranularity::Token) b += double(cfg.num_kv_heads) * double(dtype_size(o.kv_scale_dtype));
  return b;
}

// Static per-channel KV scales of K and V of every layer (0 unless channel granularity).
double kv_static_bytes(const ModelConfig& cfg, const KVCacheQuant& kv, const ProjectionOptions& o) {
  if (!kv.enabled() || kv.granularity != KVGranularity::Channel) return 0;
  return 2.0 * cfg.num_layers * double(cfg.kv_dim()) * double(dtype_size(o.kv_scale_dtype));
}

// Seconds of compute on the target's peaks (see Projection::decode_compute_s).
double compute_seconds(const TokenCost& c, const Roofline& r) {
  const double float_rate = r.matmul_tflops * 1e12;
  const double int8_rate = r.int8_tops > 0 ? r.int8_tops * 1e12 : float_rate;
  const double int4_rate = r.int4_tops > 0 ? r.int4_tops * 1e12 : int8_rate;
  return c.float_flops / float_rate + c.int8_ops / int8_rate + c.int4_ops / int4_rate;
}

}  // namespace

double stored_matrix_bytes(const ResolvedTensor& r, DType weight_dtype, const ProjectionOptions& o) {
  const int64_t rows = r.rows(), cols = r.cols();
  if (!r.scheme.quantized()) return double(rows) * double(cols) * double(dtype_size(weight_dtype));
  const WeightQuantSpec& w = r.scheme.weight;
  const DType sdt = r.scheme.act.bits > 0             ? o.int_scale_dtype
                    : o.weight_scale_from_recipe ? w.scale_dtype
                                                 : o.weight_scale_dtype;
  const double per_param = double(dtype_size(sdt)) * (w.symmetric ? 1.0 : 2.0);
  return double(rows) * double(packed_row_bytes(cols, w.bits)) + double(scale_params(rows, cols, w)) * per_param;
}

TargetStorage target_storage(const TargetProfile& t, DType model_dtype) {
  const bool has =
      std::find(t.activation_dtypes.begin(), t.activation_dtypes.end(), model_dtype) != t.activation_dtypes.end();
  const bool cpu = t.activation_dtype == DType::F32;
  TargetStorage s;
  s.options.activation_dtype = has ? model_dtype : t.activation_dtype;
  s.options.weight_scale_dtype = t.weight_scale_dtype_for(s.options.activation_dtype, DType::F32);
  s.options.weight_scale_from_recipe = t.weight_scale_dtype == "recipe";
  s.weight_dtype = (has || cpu) ? model_dtype : t.activation_dtype;
  return s;
}

Projection project(const ModelConfig& cfg, DType weight_dtype, const std::vector<ResolvedTensor>& tensors,
                   const KVCacheQuant& kv, const TargetProfile& t, const ProjectionOptions& o) {
  const Roofline& rl = t.roofline;
  if (!(rl.memory_bandwidth_gb_s > 0)) fail_input("target '{}': roofline.memory_bandwidth_gb_s must be > 0", t.name);
  if (!(rl.matmul_tflops > 0)) fail_input("target '{}': roofline.matmul_tflops must be > 0", t.name);
  if (o.context < 0) fail_input("projection: context must be >= 0 (got {})", o.context);
  if (o.prefill_tokens < 0) fail_input("projection: prefill tokens must be >= 0 (got {})", o.prefill_tokens);

  const double wsz = double(dtype_size(weight_dtype));
  const double asz = double(dtype_size(o.activation_dtype));
  const double L = cfg.num_layers;

  // Per-token parts that do not depend on the context.
  double linear_read = 0;      // bytes: every linear + lm_head in stored form
  double embedding_row = 0;    // bytes: one row of the embedding table
  double embedding_table = 0;  // bytes: the whole table (memory footprint)
  double lm_head_read = 0;     // bytes: lm_head as the decode step reads it
  double lm_head_stored = 0;   // bytes of a separately stored lm_head (untied, or tied but quantized)
  double linear_io = 0;        // elements: sum of (rows + cols)
  double float_ops = 0, int8_ops = 0, int4_ops = 0;
  int64_t n_linear = 0, n_embedding = 0, n_lm_head = 0;
  for (const ResolvedTensor& r : tensors) {
    if (r.spec.is_bias || r.spec.shape.size() != 2)
      fail_input("projection: '{}' is not a weight matrix", r.spec.name);
    const double bytes = stored_matrix_bytes(r, weight_dtype, o);
    if (r.spec.role == TensorRole::Embedding) {
      ++n_embedding;
      embedding_table = bytes;
      embedding_row = bytes / double(r.rows());
      continue;
    }
    if (!role_is_linear(r.spec.role)) fail_input("projection: '{}' is not a linear", r.spec.name);
    if (r.spec.role == TensorRole::LmHead) {
      ++n_lm_head;
      lm_head_read = bytes;
      if (r.spec.stored || r.scheme.quantized()) lm_head_stored = bytes;
    } else {
      ++n_linear;
    }
    linear_read += bytes;
    linear_io += double(r.rows() + r.cols());
    const double ops = 2.0 * double(r.rows()) * double(r.cols());
    switch (arithmetic_of(r.scheme)) {
      case Arith::Float: float_ops += ops; break;
      case Arith::Int8: int8_ops += ops; break;
      case Arith::Int4: int4_ops += ops; break;
    }
  }
  if (n_embedding != 1 || n_lm_head != 1 || n_linear != 7 * int64_t(cfg.num_layers))
    fail_input("projection: expected the embedding, lm_head and 7 linears per layer ({} layers); got {}, {} and {}",
               cfg.num_layers, n_embedding, n_lm_head, n_linear);

  // Norms and biases, unquantized, from the registry.
  double small_bytes = 0;
  for (const TensorSpec& s : build_registry(cfg)) {
    if (s.is_bias || s.role == TensorRole::AttnNorm || s.role == TensorRole::MlpNorm || s.role == TensorRole::FinalNorm) {
      double n = 1;
      for (int64_t d : s.shape) n *= double(d);
      small_bytes += n * wsz;
    }
  }

  const double row = kv_row_bytes(cfg, kv, o);
  const double kv_static = kv_static_bytes(cfg, kv, o);
  const double attn_flops_per_pos = 4.0 * L * cfg.num_heads * cfg.head_dim;  // QK^T + PV, per context position
  const double scores_per_pos = 2.0 * L * cfg.num_heads;                     // elements written + read

  // One token at (possibly fractional, for prefill averages) context c.
  auto token_at = [&](double c) {
    TokenCost tc;
    tc.weight_bytes = linear_read + embedding_row + small_bytes;
    tc.kv_bytes = 2.0 * L * c * row + kv_static;
    tc.activation_bytes = asz * (linear_io + scores_per_pos * c);
    tc.float_flops = float_ops + attn_flops_per_pos * c;
    tc.int8_ops = int8_ops;
    tc.int4_ops = int4_ops;
    tc.flops = tc.float_flops + tc.int8_ops + tc.int4_ops;
    return tc;
  };

  Projection p;
  const double bw = rl.memory_bandwidth_gb_s * 1e9;  // bytes/s

  p.decode = token_at(double(o.context));
  p.decode_memory_s = p.decode.total_bytes() / bw;
  p.decode_compute_s = compute_seconds(p.decode, rl);
  p.decode_tok_s = 1.0 / std::max(p.decode_memory_s, p.decode_compute_s);
  p.decode_bound = p.decode_memory_s >= p.decode_compute_s ? "memory" : "compute";

  if (o.prefill_tokens > 0) {
    const double P = double(o.prefill_tokens);
    const TokenCost avg = token_at((P + 1.0) / 2.0);
    TokenCost& pf = p.prefill;
    pf.weight_bytes = linear_read + P * embedding_row + small_bytes;
    pf.kv_bytes = 2.0 * L * P * row + kv_static;
    pf.activation_bytes = P * avg.activation_bytes;
    pf.float_flops = P * avg.float_flops;
    pf.int8_ops = P * avg.int8_ops;
    pf.int4_ops = P * avg.int4_ops;
    pf.flops = pf.float_flops + pf.int8_ops + pf.int4_ops;
    p.prefill_memory_s = pf.total_bytes() / bw;
    p.prefill_compute_s = compute_seconds(pf, rl);
    p.prefill_tok_s = P / std::max(p.prefill_memory_s, p.prefill_compute_s);
    p.prefill_bound = p.prefill_memory_s >= p.prefill_compute_s ? "memory" : "compute";
  }

  // A tied, unquantized lm_head is the embedding table: no bytes of its own in memory.
  p.total_weight_bytes = embedding_table + (linear_read - lm_head_read) + lm_head_stored + small_bytes;
  p.kv_cache_bytes_at_context = 2.0 * L * double(o.context) * row + kv_static;
  p.memory_needed_bytes = p.total_weight_bytes + p.kv_cache_bytes_at_context;
  p.fits = p.memory_needed_bytes <= rl.memory_gib * kGiB;
  return p;
}

}  // namespace quantscope
