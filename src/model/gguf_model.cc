#include "model/gguf_model.h"

#include <fmt/format.h>

#include <set>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/parallel.h"
#include "model/gguf_packed.h"

namespace quantscope {

std::string gguf_tensor_name(const TensorSpec& s) {
  const char* suffix = s.is_bias ? "bias" : "weight";
  switch (s.role) {
    case TensorRole::Embedding: return "token_embd.weight";
    case TensorRole::FinalNorm: return "output_norm.weight";
    case TensorRole::LmHead: return "output.weight";
    case TensorRole::AttnNorm: return fmt::format("blk.{}.attn_norm.weight", s.layer);
    case TensorRole::AttnQ: return fmt::format("blk.{}.attn_q.{}", s.layer, suffix);
    case TensorRole::AttnK: return fmt::format("blk.{}.attn_k.{}", s.layer, suffix);
    case TensorRole::AttnV: return fmt::format("blk.{}.attn_v.{}", s.layer, suffix);
    case TensorRole::AttnO: return fmt::format("blk.{}.attn_output.{}", s.layer, suffix);
    case TensorRole::MlpNorm: return fmt::format("blk.{}.ffn_norm.weight", s.layer);
    case TensorRole::MlpGate: return fmt::format("blk.{}.ffn_gate.weight", s.layer);
    case TensorRole::MlpUp: return fmt::format("blk.{}.ffn_up.weight", s.layer);
    case TensorRole::MlpDown: return fmt::format("blk.{}.ffn_down.weight", s.layer);
  }
  return "?";
}

ModelConfig gguf_config(const GgufFile& f) {
  const std::string arch = f.get_string("general.architecture");
  ModelConfig c;
  if (arch == "llama") {
    c.arch = Architecture::Llama;
    c.rope_style = RopeStyle::Interleaved;  // llama.cpp's converter permutes q/k rows to Meta's layout
  } else if (arch == "pangu-embedded") {
    // llama.cpp's PANGU_EMBED: Llama plus q/k/v/o biases, NEOX RoPE (rotate_half, HF row order).
    c.arch = Architecture::OpenPanguEmbedded;
    c.rope_style = RopeStyle::HalfSplit;
    c.qkv_bias = true;
    c.o_bias = true;
  } else {
    fail_input("{}: general.architecture '{}' is not supported (supported: llama, pangu-embedded)", f.path, arch);
  }
  const std::string p = arch + ".";
  c.hidden_size = int(f.get_u32(p + "embedding_length"));
  c.num_layers = int(f.get_u32(p + "block_count"));
  c.intermediate_size = int(f.get_u32(p + "feed_forward_length"));
  c.num_heads = int(f.get_u32(p + "attention.head_count"));
  c.num_kv_heads = int(f.get_u32_or(p + "attention.head_count_kv", uint32_t(c.num_heads)));
  c.max_seq_len = int(f.get_u32(p + "context_length"));
  c.rope_theta = f.get_f32_or(p + "rope.freq_base", 10000.0f);
  c.norm_eps = f.get_f32(p + "attention.layer_norm_rms_epsilon");
  c.head_dim = c.num_heads > 0 ? c.hidden_size / c.num_heads : 0;
  c.head_dim = int(f.get_u32_or(p + "rope.dimension_count", uint32_t(c.head_dim)));
  const GgufTensor& emb = f.tensor("token_embd.weight");
  c.vocab_size = int(f.get_u32_or(p + "vocab_size", uint32_t(emb.rows())));
  c.tie_embeddings = f.find_tensor("output.weight") == nullptr;
  c.bos_id = int(f.get_u32_or("tokenizer.ggml.bos_token_id", 1));
  c.eos_id = int(f.get_u32_or("tokenizer.ggml.eos_token_id", 2));
  if (f.has("tokenizer.ggml.padding_token_id")) c.pad_id = int(f.get_u32("tokenizer.ggml.padding_token_id"));
  c.synthetic = f.get_bool_or("quantscope.synthetic", false);
  return c;
}

std::unique_ptr<Model> load_gguf_model(const std::string& path, const LoadOptions& options) {
  auto file = std::make_shared<GgufFile>(read_gguf(path));
  const ModelConfig c = gguf_config(*file);
  validate_config(c, path);
  TensorSet out;
  out.keep(file);
  std::set<std::string, std::less<>> used;
  PreboundWeights packed;
  for (const TensorSpec& spec : build_registry(c)) {
    if (!spec.stored) continue;
    const std::string name = gguf_tensor_name(spec);
    const GgufTensor* t = file->find_tensor(name);
    if (!t) fail_input("{}: tensor '{}' ({}) is missing", path, name, spec.name);
    used.insert(name);
    // Linear weights and the token table in Q8_0/Q4_0 stay quantized (repacked for the kernels; table
    // rows are dequantized on lookup, and a tied lm_head shares the table's blocks).
    const bool packable_matrix = (role_is_linear(spec.role) && !spec.is_bias) || spec.role == TensorRole::Embedding;
    if (options.gguf_native && packable_matrix && gguf_type_packable(t->type) && t->ne.size() == 2) {
      if (t->ne[0] != spec.shape[1] || t->ne[1] != spec.shape[0])
        fail_input("{}: tensor '{}' has ne [{}, {}] but the config implies {}", path, name, t->ne[0], t->ne[1],
                   shape_string(spec.shape));
      std::unique_ptr<PackedLinear> p = gguf_packed_linear(*t);
      release_resident_pages(t->data, t->nbytes);  // the repacked copy is what runs: not held twice
      if (spec.role == TensorRole::Embedding) {
        if (c.tie_embeddings) packed.linears[spec.name] = std::make_unique<PackedLinear>(*p);
        packed.embedding = std::move(p);
      } else {
        packed.linears[spec.name] = std::move(p);
      }
      continue;
    }
    TensorView v;
    if (t->type == GgmlType::F32 || t->type == GgmlType::F16 || t->type == GgmlType::BF16) {
      v = gguf_tensor_as_view(*t);
    } else {
      // Quantized blocks: dequantize once into an owned fp32 buffer.
      const int64_t rows = t->rows(), cols = t->cols();
      float* buf = out.new_f32_buffer(size_t(rows * cols));
      parallel_for(0, rows, [&](int64_t r) { gguf_dequantize_rows(*t, r, 1, buf + r * cols); });
      v.dtype = DType::F32;
      v.shape = gguf_row_major_shape(*t);
      v.data = buf;
      v.source = path;
      v.source_offset = t->file_offset;
    }
    out.add(spec.name, v);
  }
  // Anything else in the file is reported, not ignored.
  for (const GgufTensor& t : file->tensors) {
    if (!used.count(t.name) && t.name.find("rope_freqs") == std::string::npos)
      fail_input("{}: byte {}: unexpected tensor '{}' for architecture {}", path, t.info_offset, t.name,
                 architecture_short_name(c.arch));
  }
  return bind_model(c, std::move(out), path, "gguf", options, std::move(packed));
}

}  // namespace quantscope
