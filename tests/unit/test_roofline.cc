// Roofline projections: bytes and operations per token written out by hand from the openPangu-Embedded
// architecture constants, and the batch-1 decode bounds of ascend-numerics.md §9.3 / openpangu.md §5.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "model/registry.h"
#include "model/synth.h"
#include "quant/recipe.h"
#include "targets/roofline.h"

namespace quantscope {
namespace {

const char* kBf16 = R"({"default": {"method": "none"}})";
const char* kW8A8 =
    R"({"default": {"method": "rtn", "w_bits": 8, "granularity": "channel", "symmetric": true, "a_bits": 8, "a_granularity": "token"}})";
const char* kW4A16 = R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 128}})";

// Architecture constants (openpangu.md §1), independent of the synth presets (checked against them).
struct Arch {
  int64_t H, L, nq, nkv, hd, I, V;
  bool tied;
};
constexpr Arch k1B{1536, 26, 12, 6, 128, 6144, 153376, true};
constexpr Arch k7B{4096, 34, 32, 8, 128, 12800, 153376, false};

ModelConfig config_of(const std::string& arch, const Arch& a) {
  SynthOptions o;
  o.arch = arch;
  const ModelConfig c = synth_config(o);
  EXPECT_EQ(c.hidden_size, a.H);
  EXPECT_EQ(c.num_layers, a.L);
  EXPECT_EQ(c.num_heads, a.nq);
  EXPECT_EQ(c.num_kv_heads, a.nkv);
  EXPECT_EQ(c.head_dim, a.hd);
  EXPECT_EQ(c.intermediate_size, a.I);
  EXPECT_EQ(c.vocab_size, a.V);
  EXPECT_EQ(c.tie_embeddings, a.tied);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_TRUE(c.o_bias);
  EXPECT_EQ(synth_dtype(o), DType::BF16);
  return c;
}

std::vector<ResolvedTensor> resolve(const ModelConfig& c, const char* recipe) {
  return resolve_recipe(parse_recipe(recipe, "test-recipe.json"), build_registry(c));
}

// A 910B4-like target: 960 GB/s, 245.76 TFLOPS bf16, 491.52 TOPS int8, 32 GiB (§9.1).
TargetProfile profile(double bw_gb_s, double tflops, double int8_tops, double int4_tops, double gib) {
  TargetProfile t;
  t.name = "test-target";
  t.activation_dtype = DType::BF16;
  t.weight_scale_dtype = "activation";
  t.roofline.memory_bandwidth_gb_s = bw_gb_s;
  t.roofline.matmul_tflops = tflops;
  t.roofline.int8_tops = int8_tops;
  t.roofline.int4_tops = int4_tops;
  t.roofline.memory_gib = gib;
  return t;
}
TargetProfile ascend_910b4() { return profile(960, 245.76, 491.52, 0, 32); }

ProjectionOptions options(int64_t context, int64_t prefill = 0) {
  ProjectionOptions o;
  o.activation_dtype = DType::BF16;
  o.weight_scale_dtype = DType::BF16;  // Ascend: antiquantScale in the activation dtype
  o.int_scale_dtype = DType::F32;      // W8A8 dequant scale
  o.kv_scale_dtype = DType::F32;
  o.context = context;
  o.prefill_tokens = prefill;
  return o;
}

// Hand formulas. Elements of the seven linears of one layer (q, k, v, o, gate, up, down: [rows, cols]).
int64_t layer_linear_elems(const Arch& a) {
  const int64_t Q = a.nq * a.hd, KV = a.nkv * a.hd;
  return Q * a.H + KV * a.H + KV * a.H + a.H * Q + a.I * a.H + a.I * a.H + a.H * a.I;
}
int64_t layer_linear_rows(const Arch& a) {  // output features summed
  const int64_t Q = a.nq * a.hd, KV = a.nkv * a.hd;
  return Q + KV + KV + a.H + a.I + a.I + a.H;
}
int64_t layer_linear_cols(const Arch& a) {  // input features summed
  const int64_t Q = a.nq * a.hd;
  return a.H + a.H + a.H + Q + a.H + a.H + a.I;
}
int64_t lm_head_elems(const Arch& a) { return a.V * a.H; }
// bf16 bytes of a token's norms (2 per layer + final) and biases (q, k, v, o per layer).
int64_t small_bytes(const Arch& a) {
  const int64_t Q = a.nq * a.hd, KV = a.nkv * a.hd;
  return 2 * ((2 * a.L + 1) * a.H + a.L * (Q + KV + KV + a.H));
}
int64_t embedding_row_bytes(const Arch& a) { return 2 * a.H; }

int64_t bf16_weight_bytes(const Arch& a) {
  return 2 * (a.L * layer_linear_elems(a) + lm_head_elems(a)) + embedding_row_bytes(a) + small_bytes(a);
}
// W8A8 channel symmetric: 1 byte per code + one f32 scale per output row; lm_head stays bf16.
int64_t w8a8_weight_bytes(const Arch& a) {
  return a.L * (layer_linear_elems(a) + 4 * layer_linear_rows(a)) + 2 * lm_head_elems(a) + embedding_row_bytes(a) +
         small_bytes(a);
}
// W4 g128 asymmetric: half a byte per code + per 128 weights one bf16 scale and one bf16 offset.
int64_t w4g128_weight_bytes(const Arch& a) {
  const int64_t e = layer_linear_elems(a);
  return a.L * (e / 2 + (e / 128) * (2 + 2)) + 2 * lm_head_elems(a) + embedding_row_bytes(a) + small_bytes(a);
}
// 2 x MACs of linears + lm_head, + QK^T and PV over `ctx` positions.
int64_t flops(const Arch& a, int64_t ctx) {
  return 2 * (a.L * layer_linear_elems(a) + lm_head_elems(a)) + 4 * a.L * a.nq * a.hd * ctx;
}

struct Case {
  std::string arch;
  Arch a;
};
const Case kCases[] = {{"openpangu-embedded-1b", k1B}, {"openpangu-embedded-7b", k7B}};

TEST(Roofline, HandCountsPerLayerMatchOpenPanguDerivedSizes) {
  // openpangu.md §5: 35.39 M linear parameters per 1B layer, 199.23 M per 7B layer.
  EXPECT_EQ(layer_linear_elems(k1B), 35389440);
  EXPECT_EQ(layer_linear_elems(k7B), 199229440);
  EXPECT_EQ(lm_head_elems(k7B), 628228096);  // 628.2 M
  EXPECT_EQ(lm_head_elems(k1B), 235585536);  // 235.6 M
}

TEST(Roofline, Bf16WeightBytesAndFlopsExact) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.arch);
    const ModelConfig cfg = config_of(c.arch, c.a);
    const Projection p = project(cfg, DType::BF16, resolve(cfg, kBf16), KVCacheQuant{}, ascend_910b4(), options(1000));
    EXPECT_EQ(p.decode.weight_bytes, double(bf16_weight_bytes(c.a)));
    EXPECT_EQ(p.decode.flops, double(flops(c.a, 1000)));
    EXPECT_EQ(p.decode.float_flops, p.decode.flops);
    EXPECT_EQ(p.decode.int8_ops, 0.0);
    EXPECT_EQ(p.decode.int4_ops, 0.0);
  }
}

TEST(Roofline, W8A8WeightBytesAndIntOpsExact) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.arch);
    const ModelConfig cfg = config_of(c.arch, c.a);
    const Projection p = project(cfg, DType::BF16, resolve(cfg, kW8A8), KVCacheQuant{}, ascend_910b4(), options(1000));
    EXPECT_EQ(p.decode.weight_bytes, double(w8a8_weight_bytes(c.a)));
    EXPECT_EQ(p.decode.flops, double(flops(c.a, 1000)));
    // The decoder linears run on int8; lm_head (bf16) and attention in float.
    EXPECT_EQ(p.decode.int8_ops, double(2 * c.a.L * layer_linear_elems(c.a)));
    EXPECT_EQ(p.decode.float_flops, double(2 * lm_head_elems(c.a) + 4 * c.a.L * c.a.nq * c.a.hd * 1000));
    EXPECT_EQ(p.decode.int4_ops, 0.0);
  }
}

TEST(Roofline, W4A16G128WeightBytesExactAndFloatCompute) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.arch);
    const ModelConfig cfg = config_of(c.arch, c.a);
    const Projection p = project(cfg, DType::BF16, resolve(cfg, kW4A16), KVCacheQuant{}, ascend_910b4(), options(1000));
    EXPECT_EQ(p.decode.weight_bytes, double(w4g128_weight_bytes(c.a)));
    EXPECT_EQ(p.decode.flops, double(flops(c.a, 1000)));
    EXPECT_EQ(p.decode.float_flops, p.decode.flops);  // weight-only: dequantized into the float matmul
    EXPECT_EQ(p.decode.int8_ops + p.decode.int4_ops, 0.0);
  }
}

TEST(Roofline, Bf16MatchesAscendNumericsDecodeBounds) {
  // ascend-numerics.md §9.3 / openpangu.md §5: bytes per decoded token (linears + lm_head) 1B 2.31 GB,
  // 7B 14.80 GB; 910B4 (960 GB/s) batch-1 decode bounds 416 and 65 tok/s (weights only: context 0).
  struct Row {
    const Case* c;
    double gb, tok_s;
  };
  for (const Row& r : {Row{&kCases[0], 2.31, 416}, Row{&kCases[1], 14.80, 65}}) {
    SCOPED_TRACE(r.c->arch);
    const ModelConfig cfg = config_of(r.c->arch, r.c->a);
    const Projection p = project(cfg, DType::BF16, resolve(cfg, kBf16), KVCacheQuant{}, ascend_910b4(), options(0));
    EXPECT_NEAR(p.decode.weight_bytes / 1e9, r.gb, 0.005 * r.gb);
    EXPECT_EQ(p.decode.kv_bytes, 0.0);
    EXPECT_NEAR(p.decode_tok_s, r.tok_s, 0.01 * r.tok_s);
    EXPECT_EQ(p.decode_bound, "memory");
  }
}

TEST(Roofline, QuantizedTrafficMatchesOpenPanguTable) {
  // openpangu.md §5: W8 1.39 / 8.03 GB, W4g128 0.95 / 4.75 GB per token, the W4 with one 16-bit scale
  // per 128 weights and no offset (symmetric here), embedding and lm_head in bf16.
  const char* w4sym = R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "group", "group_size": 128, "symmetric": true}})";
  const double w8[] = {1.39, 8.03}, w4[] = {0.95, 4.75};
  for (int i = 0; i < 2; ++i) {
    const Case& c = kCases[i];
    SCOPED_TRACE(c.arch);
    const ModelConfig cfg = config_of(c.arch, c.a);
    const Projection p8 = project(cfg, DType::BF16, resolve(cfg, kW8A8), KVCacheQuant{}, ascend_910b4(), options(0));
    const Projection p4 = project(cfg, DType::BF16, resolve(cfg, w4sym), KVCacheQuant{}, ascend_910b4(), options(0));
    EXPECT_NEAR(p8.decode.weight_bytes / 1e9, w8[i], 0.005 * w8[i]);
    EXPECT_NEAR(p4.decode.weight_bytes / 1e9, w4[i], 0.005 * w4[i]);
    const int64_t e = c.a.L * layer_linear_elems(c.a);
    EXPECT_EQ(p4.decode.weight_bytes,
              double(e / 2 + (e / 128) * 2 + 2 * lm_head_elems(c.a) + embedding_row_bytes(c.a) + small_bytes(c.a)));
  }
}

TEST(Roofline, KvAndActivationBytesExact) {
  const ModelConfig cfg = config_of("openpangu-embedded-1b", k1B);
  const auto tensors = resolve(cfg, kBf16);
  const int64_t ctx = 4096, KV = k1B.nkv * k1B.hd;
  const int64_t io = k1B.L * (layer_linear_rows(k1B) + layer_linear_cols(k1B)) + k1B.V + k1B.H;

  const Projection p = project(cfg, DType::BF16, tensors, KVCacheQuant{}, ascend_910b4(), options(ctx));
  // openpangu.md §5: 1B bf16 KV cache is 78 KiB per token, 312 MiB at 4k.
  EXPECT_EQ(p.decode.kv_bytes, double(2 * k1B.L * KV * 2 * ctx));
  EXPECT_EQ(p.kv_cache_bytes_at_context, 312.0 * 1024 * 1024);
  EXPECT_EQ(p.decode.activation_bytes, double(2 * (io + 2 * k1B.L * k1B.nq * ctx)));

  KVCacheQuant kv8;
  kv8.bits = 8;
  kv8.granularity = KVGranularity::Token;
  const Projection p8 = project(cfg, DType::BF16, tensors, kv8, ascend_910b4(), options(ctx));
  // One int8 per element + one f32 scale per (position, KV head), K and V of every layer.
  EXPECT_EQ(p8.decode.kv_bytes, double(2 * k1B.L * ctx * (KV + 4 * k1B.nkv)));

  KVCacheQuant kv4;
  kv4.bits = 4;
  kv4.granularity = KVGranularity::Channel;
  const Projection p4 = project(cfg, DType::BF16, tensors, kv4, ascend_910b4(), options(ctx));
  // Half a byte per element + static f32 scales per (layer, channel) of K and V.
  EXPECT_EQ(p4.decode.kv_bytes, double(2 * k1B.L * ctx * (KV / 2) + 2 * k1B.L * KV * 4));
  EXPECT_EQ(p4.kv_cache_bytes_at_context, p4.decode.kv_bytes);
}

TEST(Roofline, DecodeTimeIsMaxOfMemoryAndCompute) {
  const ModelConfig cfg = config_of("openpangu-embedded-1b", k1B);
  const TargetProfile t = ascend_910b4();
  const Projection p = project(cfg, DType::BF16, resolve(cfg, kW8A8), KVCacheQuant{}, t, options(2048));
  const double bytes = p.decode.weight_bytes + p.decode.kv_bytes + p.decode.activation_bytes;
  EXPECT_DOUBLE_EQ(p.decode_memory_s, bytes / 960e9);
  EXPECT_DOUBLE_EQ(p.decode_compute_s, p.decode.float_flops / 245.76e12 + p.decode.int8_ops / 491.52e12);
  EXPECT_DOUBLE_EQ(p.decode_tok_s, 1.0 / std::max(p.decode_memory_s, p.decode_compute_s));
  EXPECT_EQ(p.decode_bound, "memory");
}

TEST(Roofline, PrefillOnLowTflopsTargetIsComputeBound) {
  const ModelConfig cfg = config_of("openpangu-embedded-1b", k1B);
  const TargetProfile slow = profile(960, 10, 0, 0, 32);  // 10 TFLOPS, no int8 units
  const int64_t P = 512;
  const Projection p = project(cfg, DType::BF16, resolve(cfg, kBf16), KVCacheQuant{}, slow, options(0, P));
  // P x per-token FLOPs at the average context (P + 1) / 2 = 256.5: 2 x MACs + 4 L nq hd x 256.5 per token.
  const double pf_flops = double(P) * (double(2 * (k1B.L * layer_linear_elems(k1B) + lm_head_elems(k1B))) +
                                       double(4 * k1B.L * k1B.nq * k1B.hd) * 256.5);
  EXPECT_EQ(p.prefill.flops, pf_flops);
  // Weights read once, P embedding rows, KV of P positions written (bf16).
  EXPECT_EQ(p.prefill.weight_bytes, double(bf16_weight_bytes(k1B) + (P - 1) * embedding_row_bytes(k1B)));
  EXPECT_EQ(p.prefill.kv_bytes, double(2 * k1B.L * P * k1B.nkv * k1B.hd * 2));
  EXPECT_EQ(p.prefill_bound, "compute");
  EXPECT_DOUBLE_EQ(p.prefill_tok_s, double(P) / (pf_flops / 10e12));
  // Decode of one token on the same target stays memory-bound (ridge ~ 10e12 / 960e9 ~ 10 FLOP/B).
  EXPECT_EQ(p.decode_bound, "memory");

  // Without int8 units W8A8 runs at the float rate.
  const Projection q = project(cfg, DType::BF16, resolve(cfg, kW8A8), KVCacheQuant{}, slow, options(0, P));
  EXPECT_DOUBLE_EQ(q.prefill_compute_s, q.prefill.flops / 10e12);
}

TEST(Roofline, Int4ActivationsUseInt4PeakOrInt8) {
  const ModelConfig cfg = config_of("openpangu-embedded-1b", k1B);
  const char* w4a4 = R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "channel", "symmetric": true, "a_bits": 4}})";
  const char* w4a8 = R"({"default": {"method": "rtn", "w_bits": 4, "granularity": "channel", "symmetric": true, "a_bits": 8}})";
  const double lin_ops = double(2 * k1B.L * layer_linear_elems(k1B));
  const Projection a = project(cfg, DType::BF16, resolve(cfg, w4a4), KVCacheQuant{}, profile(960, 100, 200, 800, 32), options(0));
  EXPECT_EQ(a.decode.int4_ops, lin_ops);
  EXPECT_EQ(a.decode.int8_ops, 0.0);
  EXPECT_DOUBLE_EQ(a.decode_compute_s, a.decode.float_flops / 100e12 + lin_ops / 800e12);
  const Projection b = project(cfg, DType::BF16, resolve(cfg, w4a4), KVCacheQuant{}, profile(960, 100, 200, 0, 32), options(0));
  EXPECT_DOUBLE_EQ(b.decode_compute_s, b.decode.float_flops / 100e12 + lin_ops / 200e12);
  const Projection c = project(cfg, DType::BF16, resolve(cfg, w4a8), KVCacheQuant{}, profile(960, 100, 200, 800, 32), options(0));
  EXPECT_EQ(c.decode.int8_ops, lin_ops);
  EXPECT_EQ(c.decode.int4_ops, 0.0);
}

TEST(Roofline, MemoryFit) {
  // 7B bf16: 2 x (embedding + linears + untied lm_head) + norms + biases ~ 16.06 GB > 8 GiB.
  const ModelConfig c7 = config_of("openpangu-embedded-7b", k7B);
  const TargetProfile small = profile(960, 245.76, 491.52, 0, 8);
  const int64_t ctx = 4096;
  const Projection p7 = project(c7, DType::BF16, resolve(c7, kBf16), KVCacheQuant{}, small, options(ctx));
  const int64_t w7 = 2 * (k7B.V * k7B.H + k7B.L * layer_linear_elems(k7B) + lm_head_elems(k7B)) + small_bytes(k7B);
  EXPECT_EQ(p7.total_weight_bytes, double(w7));
  EXPECT_NEAR(p7.total_weight_bytes / 1e9, 16.06, 0.005 * 16.06);  // openpangu.md §5 checkpoint size
  EXPECT_EQ(p7.kv_cache_bytes_at_context, 544.0 * 1024 * 1024);     // 136 KiB per token (§5)
  EXPECT_EQ(p7.memory_needed_bytes, double(w7) + 544.0 * 1024 * 1024);
  EXPECT_FALSE(p7.fits);

  // 1B bf16 (tied: lm_head is the embedding, stored once) ~ 2.31 GB: fits 8 GiB.
  const ModelConfig c1 = config_of("openpangu-embedded-1b", k1B);
  const Projection p1 = project(c1, DType::BF16, resolve(c1, kBf16), KVCacheQuant{}, small, options(ctx));
  const int64_t w1 = 2 * (k1B.V * k1B.H + k1B.L * layer_linear_elems(k1B)) + small_bytes(k1B);
  EXPECT_EQ(p1.total_weight_bytes, double(w1));
  EXPECT_TRUE(p1.fits);

  // 7B W4 g128 (~ 6 GB incl. the bf16 embedding and lm_head) fits 8 GiB at 4k context.
  const Projection p74 = project(c7, DType::BF16, resolve(c7, kW4A16), KVCacheQuant{}, small, options(ctx));
  EXPECT_TRUE(p74.fits);
}

TEST(Roofline, RejectsTargetWithoutPeaks) {
  const ModelConfig cfg = config_of("openpangu-embedded-1b", k1B);
  EXPECT_THROW(project(cfg, DType::BF16, resolve(cfg, kBf16), KVCacheQuant{}, profile(0, 100, 0, 0, 8), options(0)),
               InputError);
  EXPECT_THROW(project(cfg, DType::BF16, resolve(cfg, kBf16), KVCacheQuant{}, profile(960, 0, 0, 0, 8), options(0)),
               InputError);
}

}  // namespace
}  // namespace quantscope
