#include "model/forward.h"

#include <cmath>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/attention_blocks.h"
#include "kernels/ops.h"

namespace quantscope {

KVCache::KVCache(const ModelConfig& c, int64_t capacity)
    : capacity_(capacity), kv_heads_(c.num_kv_heads), head_dim_(c.head_dim),
      k_(size_t(c.num_layers) * size_t(c.kv_dim()) * size_t(capacity)), v_(k_.size()) {}

void KVCache::store(int layer, int64_t pos, const float* k, const float* v) {
  for (int h = 0; h < kv_heads_; ++h) {
    float* kb = k_.data() + block(layer, h) + pos;
    float* vb = v_.data() + block(layer, h) + pos;
    for (int d = 0; d < head_dim_; ++d) {
      kb[size_t(d) * size_t(capacity_)] = k[h * head_dim_ + d];
      vb[size_t(d) * size_t(capacity_)] = v[h * head_dim_ + d];
    }
  }
}

Forward::Forward(const Model& model) : model_(model) {}

void Forward::set_chunk_rows(int64_t rows) {
  if (rows < 1) fail_internal("Forward: chunk of {} rows", rows);
  chunk_rows_ = rows;
}

int64_t Forward::chunk_for(int64_t n) const {
  if (tap_ || model_.activations.active()) return n;
  return std::min(n, chunk_rows_);
}

const float* Forward::rope_at(int64_t pos) {
  const int64_t half = model_.config.head_dim / 2;
  const int64_t have = int64_t(rope_.size()) / (2 * half);
  if (pos >= have) {
    const int64_t want = std::max<int64_t>(pos + 1, 2 * have);
    rope_.resize(size_t(want * 2 * half));
    for (int64_t p = have; p < want; ++p) {
      for (int64_t i = 0; i < half; ++i) {
        // inv_freq_i = theta^(-2i/d) rounded to fp32 (as HF and llama2.c compute it), angle in fp32
        const float inv_freq = float(1.0 / std::pow(double(model_.config.rope_theta), double(2 * i) / double(2 * half)));
        const float angle = float(p) * inv_freq;
        rope_[size_t((p * half + i) * 2)] = std::cos(angle);
        rope_[size_t((p * half + i) * 2 + 1)] = std::sin(angle);
      }
    }
  }
  return rope_.data() + pos * 2 * half;
}

void Forward::linear(const Linear& l, int layer, TensorRole role, const float* x, int64_t m, float* y) {
  if (tap_) tap_->on_linear_input(layer, role, x, m, l.in_features());
  l.forward(x, m, y);
  store(y, m, l.out_features(), layer, role_name(role).data());
}

void Forward::store(float* x, int64_t rows, int64_t cols, int layer, const char* where) {
  model_.activations.store(x, rows, cols, layer, where);
}

void Forward::check_tokens(const int* tokens, int64_t n, int64_t pos0) const {
  for (int64_t t = 0; t < n; ++t)
    if (tokens[t] < 0 || tokens[t] >= model_.config.vocab_size)
      fail_input("token id {} at position {} is outside the vocabulary [0, {})", tokens[t], pos0 + t,
                 model_.config.vocab_size);
}

void Forward::reserve(int64_t n) {
  const ModelConfig& c = model_.config;
  const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  xb_.resize(size_t(n * H));
  xb2_.resize(size_t(n * H));
  q_.resize(size_t(n * Q));
  k_.resize(size_t(n * KV));
  v_.resize(size_t(n * KV));
  att_.resize(size_t(n * Q));
  hb_.resize(size_t(n * I));
  hb2_.resize(size_t(n * I));
}

void Forward::embed(const int* tokens, int64_t n, float* x) {
  check_tokens(tokens, n, 0);
  const int64_t H = model_.config.hidden_size;
  if (model_.packed_embedding) {
    const PackedCodesMatrix table = model_.packed_embedding->view();
    for (int64_t t = 0; t < n; ++t) packed_dequantize_row(table, tokens[t], x + t * H);
  } else {
    for (int64_t t = 0; t < n; ++t) load_float_rows(model_.embedding, tokens[t], 1, x + t * H);
  }
  store(x, n, H, -1, "embedding");
}

void Forward::run(const int* tokens, int64_t n, int64_t pos0, KVCache& cache, float* logits, bool all_logits) {
  const ModelConfig& c = model_.config;
  if (n <= 0) return;
  if (pos0 + n > cache.capacity())
    fail_input("sequence of {} positions exceeds the context capacity {}", pos0 + n, cache.capacity());
  check_tokens(tokens, n, pos0);
  const int64_t H = c.hidden_size;
  x_.resize(size_t(n * H));
  embed(tokens, n, x_.data());
  // Layer by layer, each in chunks of positions: a chunk's queries attend to the keys the chunks
  // before it stored in this layer, exactly as if the sequence had been split into calls.
  const int64_t chunk = chunk_for(n);
  for (int l = 0; l < c.num_layers; ++l)
    for (int64_t r0 = 0; r0 < n; r0 += chunk)
      run_layer(model_.layers[size_t(l)], l, x_.data() + r0 * H, std::min(chunk, n - r0), pos0 + r0, cache);
  last_n_ = n;
  if (!logits) return;
  const int64_t first = all_logits ? 0 : n - 1;
  compute_logits(first, n - first, logits);
}

void Forward::run_layer(const LayerWeights& lw, int l, float* x, int64_t n, int64_t pos0, KVCache& cache) {
  const ModelConfig& c = model_.config;
  if (pos0 + n > cache.capacity())
    fail_input("sequence of {} positions exceeds the context capacity {}", pos0 + n, cache.capacity());
  reserve(n);
  for (int64_t t = 0; t < n; ++t) rope_at(pos0 + t);  // grow the table before threads read it
  const int64_t H = c.hidden_size, Q = c.q_dim(), KV = c.kv_dim(), I = c.intermediate_size;
  const bool interleaved = c.rope_style == RopeStyle::Interleaved;
  // attention block
  parallel_for(0, n, [&](int64_t t) { rms_norm(&x[t * H], lw.attn_norm.data(), H, c.norm_eps, &xb_[size_t(t * H)]); }, 4 * H);
  store(xb_.data(), n, H, l, "attn_norm");
  linear(*lw.q, l, TensorRole::AttnQ, xb_.data(), n, q_.data());
  linear(*lw.k, l, TensorRole::AttnK, xb_.data(), n, k_.data());
  linear(*lw.v, l, TensorRole::AttnV, xb_.data(), n, v_.data());
  parallel_for(0, n, [&](int64_t t) {
    const float* cs = rope_.data() + (pos0 + t) * c.head_dim;
    for (int h = 0; h < c.num_heads; ++h) rope_rotate(&q_[size_t(t * Q + h * c.head_dim)], c.head_dim, cs, interleaved);
    for (int h = 0; h < c.num_kv_heads; ++h) rope_rotate(&k_[size_t(t * KV + h * c.head_dim)], c.head_dim, cs, interleaved);
  }, 8 * (Q + KV));
  store(q_.data(), n, Q, l, "rope_q");
  store(k_.data(), n, KV, l, "rope_k");
  if (tap_) tap_->on_kv(l, k_.data(), v_.data(), n, KV);
  parallel_for(0, n, [&](int64_t t) {
    model_.kv_quant.apply(l, &k_[size_t(t * KV)], &v_[size_t(t * KV)], c.num_kv_heads, c.head_dim);
    cache.store(l, pos0 + t, &k_[size_t(t * KV)], &v_[size_t(t * KV)]);
  }, 4 * KV);
  attention(l, n, pos0, cache);
  store(att_.data(), n, Q, l, "attention");
  linear(*lw.o, l, TensorRole::AttnO, att_.data(), n, xb2_.data());
  for (int64_t i = 0; i < n * H; ++i) x[i] += xb2_[size_t(i)];
  store(x, n, H, l, "attn_residual");
  // MLP block
  parallel_for(0, n, [&](int64_t t) { rms_norm(&x[t * H], lw.mlp_norm.data(), H, c.norm_eps, &xb_[size_t(t * H)]); }, 4 * H);
  store(xb_.data(), n, H, l, "mlp_norm");
  linear(*lw.gate, l, TensorRole::MlpGate, xb_.data(), n, hb_.data());
  linear(*lw.up, l, TensorRole::MlpUp, xb_.data(), n, hb2_.data());
  parallel_for(0, n, [&](int64_t t) { swiglu(&hb_[size_t(t * I)], &hb2_[size_t(t * I)], I); }, 20 * I);
  store(hb_.data(), n, I, l, "swiglu");
  linear(*lw.down, l, TensorRole::MlpDown, hb_.data(), n, xb2_.data());
  for (int64_t i = 0; i < n * H; ++i) x[i] += xb2_[size_t(i)];
  store(x, n, H, l, "mlp_residual");
}

void Forward::compute_logits(int64_t row0, int64_t rows, float* out) {
  const ModelConfig& c = model_.config;
  const int64_t H = c.hidden_size;
  if (row0 < 0 || rows < 0 || row0 + rows > last_n_) fail_internal("compute_logits: rows outside the last run");
  // The normalized rows go to xb_ [rows, hidden] from its start (run() sized it for a chunk only).
  if (xb_.size() < size_t(rows * H)) xb_.resize(size_t(rows * H));
  parallel_for(0, rows, [&](int64_t t) {
    rms_norm(&x_[size_t((row0 + t) * H)], model_.final_norm.data(), H, c.norm_eps, &xb_[size_t(t * H)]);
  }, 4 * H);
  store(xb_.data(), rows, H, -1, "final_norm");
  linear(*model_.lm_head, -1, TensorRole::LmHead, xb_.data(), rows, out);
}

void Forward::attention(int layer, int64_t n, int64_t pos0, KVCache& cache) {
  const ModelConfig& c = model_.config;
  const int64_t hd = c.head_dim, Q = c.q_dim(), cap = cache.capacity();
  const int group = c.num_heads / c.num_kv_heads;
  const float scale = 1.0f / std::sqrt(float(hd));
  // Scores run along positions: score[s] accumulates fma(q[d], K[d][s], .) over d in order (each
  // element the same on every ISA); the output is out[d] = dot_f32(p, V[d], pos + 1) in dot.h's fixed
  // order (kernels/attention_blocks.h). One work item is (a block of kAttnBlockRows consecutive
  // positions, head): the block's positions share every key and value chunk loaded (prefill); every
  // position's arithmetic is the same as computed alone.
  constexpr int64_t kPosBlock = kAttnBlockRows;
  const int64_t blocks = (n + kPosBlock - 1) / kPosBlock, stride = pos0 + n;
  parallel_blocks(blocks * c.num_heads, [&](int, int64_t b, int64_t e) {
    std::vector<float> scores(size_t(kPosBlock * stride));
    for (int64_t item = b; item < e; ++item) {
      const int64_t t0 = item / c.num_heads * kPosBlock, t1 = std::min(n, t0 + kPosBlock);
      const int h = int(item % c.num_heads), nt = int(t1 - t0);
      const int kvh = h / group;
      int64_t len[kPosBlock];  // position t0 + i attends to positions 0 .. pos0 + t0 + i
      for (int i = 0; i < nt; ++i) len[i] = pos0 + t0 + i + 1;
      const float* q = &q_[size_t(t0 * Q + h * hd)];
      attention_scores(q, Q, nt, cache.keys(layer, kvh), cap, hd, len, scores.data(), stride);
      for (int i = 0; i < nt; ++i) {
        float* row = scores.data() + i * stride;
        for (int64_t s = 0; s < len[i]; ++s) row[s] *= scale;
        softmax(row, len[i]);
      }
      attention_values(scores.data(), stride, nt, cache.values(layer, kvh), cap, hd, len,
                       &att_[size_t(t0 * Q + h * hd)], Q);
    }
  }, kPosBlock * (4 * hd * (pos0 + (n + 1) / 2) + 20 * (pos0 + (n + 1) / 2)));
}

}  // namespace quantscope
