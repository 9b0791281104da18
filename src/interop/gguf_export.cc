#include "interop/gguf_export.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "formats/gguf_writer.h"
#include "model/gguf_model.h"
#include "quant/quantized_linear.h"
#include "quant/quantized_model.h"
#include "tokenizer/llama2c_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace quantscope {

namespace {

bool ggml_type_from_name(const std::string& s, GgmlType* out) {
  for (const auto& t : kGgmlTypes)
    if (t.name == s) {
      *out = t.type;
      return true;
    }
  return false;
}

// llama_ftype of the file (general.file_type): the type most weights have.
uint32_t file_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1;
    case GgmlType::Q4_0: return 2;
    case GgmlType::Q4_1: return 3;
    case GgmlType::Q8_0: return 7;
    case GgmlType::BF16: return 32;
  }
  return 0;
}

GgmlType ggml_of(DType d) {
  if (d == DType::F16) return GgmlType::F16;
  if (d == DType::BF16) return GgmlType::BF16;
  return GgmlType::F32;
}

// Our codes as Q8_0 / Q4_0 blocks, or an InputError naming the tensor and the rule.
std::shared_ptr<std::vector<uint8_t>> blocks_of(const QuantizedLinear& q, const std::string& name, GgmlType* type) {
  const QuantizedWeight& w = q.weight();
  const std::string scheme = q.describe();
  if (q.act().bits)
    fail_input("{} ({}): GGUF stores weights only; its {}-bit activation quantization cannot be represented "
               "(llama.cpp chooses activation blocks itself)", name, scheme, q.act().bits);
  if (!q.smooth().empty())
    fail_input("{} ({}): carries an input smoothing divisor; GGUF has no such tensor", name, scheme);
  const bool groups32 = w.spec.granularity == Granularity::Group && w.group_size == 32 && w.cols % 32 == 0;
  if (!w.spec.symmetric || !groups32 || (w.spec.bits != 8 && w.spec.bits != 4))
    fail_input("{} ({}): GGUF block formats hold symmetric 8-bit (Q8_0) or 4-bit (Q4_0) weights in groups of 32 "
               "with one fp16 scale; quantize with w_bits 8 or 4, granularity group, group_size 32, symmetric "
               "(asymmetric Q4_1 stores a fp16 minimum, not an integer zero point)", name, scheme);
  for (float s : w.scales)
    if (f16_to_f32(f32_to_f16(s)) != s)
      fail_input("{} ({}): scale {} is not an fp16 value and Q{}_0 stores scales in fp16 (quantize with "
                 "scale_dtype f16)", name, scheme, s, w.spec.bits);
  *type = w.spec.bits == 8 ? GgmlType::Q8_0 : GgmlType::Q4_0;
  const int64_t nb = w.cols / 32;
  auto out = std::make_shared<std::vector<uint8_t>>(size_t(w.rows) * ggml_row_size(*type, w.cols));
  uint8_t* p = out->data();
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t b = 0; b < nb; ++b) {
      const uint16_t d = f32_to_f16(w.params(r, b).scale);
      std::memcpy(p, &d, 2);
      uint8_t c[32];
      for (int j = 0; j < 32; ++j) c[j] = w.code(r, b * 32 + j);
      if (*type == GgmlType::Q8_0) {
        for (int j = 0; j < 32; ++j) p[2 + j] = uint8_t(int8_t(int(c[j]) - 128));
        p += 34;
      } else {
        for (int j = 0; j < 16; ++j) p[2 + j] = uint8_t(c[j] | (c[j + 16] << 4));
        p += 18;
      }
    }
  return out;
}

void write_tokenizer(GgufWriter& w, const Llama2cTokenizer& tok) {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types;
  for (int i = 0; i < tok.vocab_size(); ++i) {
    std::string p = tok.piece(i);
    // llama.cpp's SentencePiece vocabulary spells the space as U+2581.
    std::string spm;
    for (char ch : p) spm += ch == ' ' ? std::string("\xE2\x96\x81") : std::string(1, ch);
    const bool byte = p.size() == 6 && p.starts_with("<0x") && p.back() == '>';
    types.push_back(i == 0 ? 2 : (i == tok.bos_id() || i == tok.eos_id()) ? 3 : byte ? 6 : 1);
    tokens.push_back(std::move(spm));
    scores.push_back(tok.score(i));
  }
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
}

}  // namespace

GgufExportResult export_gguf(const std::string& model_path, const std::string& out_file, const GgufExportOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out_file, ec) && !o.force) fail_input("{}: the output already exists (pass --force to replace it)", out_file);
  GgmlType float_type = GgmlType::F32;
  const bool keep_dtype = o.type.empty();
  if (!keep_dtype && !ggml_type_from_name(o.type, &float_type))
    fail_input("--type {}: expected one of {}", o.type, ggml_supported_types());
  std::unique_ptr<Model> m = load_any_model(model_path);
  const ModelConfig& c = m->config;
  GgufExportResult res;
  if (c.arch == Architecture::Llama && c.rope_style == RopeStyle::Interleaved && !c.qkv_bias && !c.o_bias) {
    res.architecture = "llama";
  } else if (c.arch == Architecture::OpenPanguEmbedded && c.rope_style == RopeStyle::HalfSplit) {
    res.architecture = "pangu-embedded";
  } else {
    fail_input("{}: {} with {} RoPE; GGUF export covers llama with interleaved RoPE (llama2.c / GGUF sources: "
               "Hugging Face Llama q/k rows would need llama.cpp's permutation, not implemented) and "
               "openPangu-Embedded (pangu-embedded)", model_path, architecture_name(c.arch),
               c.rope_style == RopeStyle::Interleaved ? "interleaved" : "rotate_half");
  }
  const std::string a = res.architecture;
  GgufWriter w;
  w.set_string("general.architecture", a);
  w.set_string("general.name", fs::path(model_path).filename().string());
  w.set_u32(a + ".context_length", uint32_t(c.max_seq_len));
  w.set_u32(a + ".embedding_length", uint32_t(c.hidden_size));
  w.set_u32(a + ".block_count", uint32_t(c.num_layers));
  w.set_u32(a + ".feed_forward_length", uint32_t(c.intermediate_size));
  w.set_u32(a + ".attention.head_count", uint32_t(c.num_heads));
  w.set_u32(a + ".attention.head_count_kv", uint32_t(c.num_kv_heads));
  w.set_u32(a + ".rope.dimension_count", uint32_t(c.head_dim));
  w.set_f32(a + ".rope.freq_base", c.rope_theta);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", c.norm_eps);
  w.set_u32(a + ".vocab_size", uint32_t(c.vocab_size));
  w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(c.bos_id));
  w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(c.eos_id));
  if (c.pad_id >= 0) w.set_u32("tokenizer.ggml.padding_token_id", uint32_t(c.pad_id));
  if (c.synthetic) w.set_bool("quantscope.synthetic", true);
  std::unique_ptr<Tokenizer> tok = load_tokenizer(model_path, o.tokenizer, c.vocab_size);
  if (const auto* l2c = dynamic_cast<const Llama2cTokenizer*>(tok.get())) {
    write_tokenizer(w, *l2c);
    res.tokenizer = true;
  } else {
    // llama.cpp's convention for a model without a vocabulary (it makes vocab_size dummy tokens): the
    // file still loads for benchmarks and token-id work, e.g. a synthetic model in llama-bench.
    w.set_string("tokenizer.ggml.model", "none");
  }

  // Data the writer reads at write(): kept alive here.
  std::vector<std::shared_ptr<std::vector<float>>> f32_keep;
  std::vector<std::shared_ptr<std::vector<uint8_t>>> block_keep;
  bool any_quantized = false;
  GgmlType main_type = GgmlType::F32;
  auto add_float = [&](const std::string& gname, const std::vector<float>& v, std::vector<int64_t> shape, GgmlType t) {
    auto data = std::make_shared<std::vector<float>>(v);
    f32_keep.push_back(data);
    std::vector<int64_t> ne(shape.rbegin(), shape.rend());
    if (ggml_traits(t).block_size > 1 && ne[0] % ggml_traits(t).block_size != 0)
      fail_input("{}: row length {} is not a multiple of {}'s block of {}", gname, ne[0], ggml_traits(t).name,
                 ggml_traits(t).block_size);
    w.add_tensor_from_f32(gname, t, ne, data->data());
    any_quantized = any_quantized || ggml_traits(t).quantized;
    res.tensor_types.push_back(fmt::format("{} {}", gname, ggml_traits(t).name));
  };
  for (const TensorSpec& spec : m->registry) {
    const std::string gname = gguf_tensor_name(spec);
    const bool linear = !spec.is_bias && role_is_linear(spec.role);
    if (linear) {
      const Linear* lin = spec.role == TensorRole::LmHead ? m->lm_head.get() : m->linear(spec.layer, spec.role);
      if (const auto* q = dynamic_cast<const QuantizedLinear*>(lin)) {
        GgmlType t;
        auto blocks = blocks_of(*q, spec.name, &t);
        block_keep.push_back(blocks);
        w.add_tensor(gname, t, {spec.shape[1], spec.shape[0]}, blocks->data());
        res.tensor_types.push_back(fmt::format("{} {}", gname, ggml_traits(t).name));
        any_quantized = true;
        main_type = t;
        ++res.quantized_blocks_tensors;
        continue;
      }
      if (!dynamic_cast<const DenseLinear*>(lin))
        fail_input("{} ({}): not dense or integer codes; GGUF export cannot represent it", spec.name, lin->describe());
    }
    if (!spec.stored) continue;
    const std::vector<float>* norm = m->norm_weights(spec);
    if (norm) {
      add_float(gname, *norm, spec.shape, GgmlType::F32);
      continue;
    }
    const TensorView& t = *m->tensors.find(spec.name);
    std::vector<float> v(size_t(t.numel()));
    load_float_rows(t, 0, t.rows(), v.data());
    const bool matrix = spec.shape.size() == 2;
    const GgmlType gt = !matrix ? GgmlType::F32 : keep_dtype ? ggml_of(t.dtype) : float_type;
    if (matrix && !any_quantized) main_type = gt;
    add_float(gname, v, spec.shape, gt);
  }
  w.set_u32("general.file_type", file_type(main_type));
  if (any_quantized) w.set_u32("general.quantization_version", 2);
  w.write(out_file);
  return res;
}

}  // namespace quantscope
