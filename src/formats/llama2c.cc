#include "formats/llama2c.h"

#include <cmath>
#include <cstring>
#include <vector>

#include "core/byte_reader.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"

namespace quantscope {

namespace {

constexpr uint32_t kMagicV1 = 0x616b3432;  // "ak42"
constexpr uint64_t kHeaderV1 = 256;

struct Slot {
  const char* name;
  std::vector<int64_t> shape;
};

// The tensors of a layout in file order.
std::vector<Slot> layout(const Llama2cHeader& h, int version) {
  const int64_t L = h.n_layers, D = h.dim, F = h.hidden_dim, V = std::abs(h.vocab_size), KV = h.kv_dim();
  const int64_t S = h.seq_len, HS2 = h.head_size() / 2;
  std::vector<Slot> s;
  if (version == 0) {
    s = {{"token_embedding", {V, D}}, {"rms_att", {L, D}}, {"wq", {L, D, D}},       {"wk", {L, KV, D}},
         {"wv", {L, KV, D}},          {"wo", {L, D, D}},   {"rms_ffn", {L, D}},     {"w1", {L, F, D}},
         {"w2", {L, D, F}},           {"w3", {L, F, D}},   {"rms_final", {D}},      {"freq_cis_real", {S, HS2}},
         {"freq_cis_imag", {S, HS2}}};
  } else {
    s = {{"rms_att", {L, D}}, {"rms_ffn", {L, D}}, {"rms_final", {D}}, {"token_embedding", {V, D}},
         {"wq", {L, D, D}},   {"wk", {L, KV, D}},  {"wv", {L, KV, D}}, {"wo", {L, D, D}},
         {"w1", {L, F, D}},   {"w2", {L, D, F}},   {"w3", {L, F, D}}};
  }
  if (!h.shared_classifier) s.push_back({"wcls", {V, D}});
  return s;
}

void validate_header(const Llama2cHeader& h, const std::string& path) {
  // Field i of the 7 ints sits at byte 4*i (legacy) or 8 + 4*i (version 1, after magic + version).
  const uint64_t base = h.version == 0 ? 0 : 8;
  auto bad = [&](int index, const char* field, int v, const char* why) {
    fail_input("{}: byte {}: header field '{}' = {} {}", path, base + 4 * uint64_t(index), field, v, why);
  };
  if (h.dim <= 0 || h.dim > (1 << 16)) bad(0, "dim", h.dim, "is out of range");
  if (h.hidden_dim <= 0 || h.hidden_dim > (1 << 18)) bad(1, "hidden_dim", h.hidden_dim, "is out of range");
  if (h.n_layers <= 0 || h.n_layers > 1024) bad(2, "n_layers", h.n_layers, "is out of range");
  if (h.n_heads <= 0 || h.dim % h.n_heads != 0) bad(3, "n_heads", h.n_heads, "must divide dim");
  if (h.n_kv_heads <= 0 || h.n_heads % h.n_kv_heads != 0) bad(4, "n_kv_heads", h.n_kv_heads, "must divide n_heads");
  if ((h.dim / h.n_heads) % 2 != 0) bad(3, "n_heads", h.n_heads, "gives an odd head size");
  if (h.vocab_size == 0 || std::abs(h.vocab_size) > (1 << 24)) bad(5, "vocab_size", h.vocab_size, "is out of range");
  if (h.seq_len <= 0 || h.seq_len > (1 << 24)) bad(6, "seq_len", h.seq_len, "is out of range");
}

}  // namespace

bool is_llama2c_v1(const uint8_t* data, uint64_t size) {
  uint32_t magic = 0;
  if (size >= 4) std::memcpy(&magic, data, 4);
  return magic == kMagicV1;
}

Llama2cCheckpoint read_llama2c(const std::string& path) {
  auto file = MappedFile::open(path);
  ByteReader r(file->data(), file->size(), path);
  Llama2cCheckpoint ck;
  Llama2cHeader& h = ck.header;
  if (is_llama2c_v1(file->data(), file->size())) {
    r.read<uint32_t>("magic");
    h.version = r.read<int32_t>("version");
    if (h.version != 1) fail_input("{}: byte 4: llama2.c version {} is not supported (only 1; 2 is int8)", path, h.version);
  }
  h.dim = r.read<int32_t>("header dim");
  h.hidden_dim = r.read<int32_t>("header hidden_dim");
  h.n_layers = r.read<int32_t>("header n_layers");
  h.n_heads = r.read<int32_t>("header n_heads");
  h.n_kv_heads = r.read<int32_t>("header n_kv_heads");
  h.vocab_size = r.read<int32_t>("header vocab_size");
  h.seq_len = r.read<int32_t>("header seq_len");
  if (h.version == 1) {
    h.shared_classifier = r.read<uint8_t>("shared_classifier flag") != 0;
    r.seek(kHeaderV1);
  } else {
    h.shared_classifier = h.vocab_size > 0;  // "negative vocab size is hacky way of signaling unshared weights"
  }
  validate_header(h, path);
  h.vocab_size = std::abs(h.vocab_size);

  uint64_t expected = r.offset();
  const auto slots = layout(h, h.version);
  for (const auto& s : slots) {
    uint64_t n = 1;
    for (int64_t d : s.shape) n *= uint64_t(d);
    expected += n * 4;
  }
  if (file->size() != expected)
    fail_input("{}: file has {} bytes but the header (dim {}, hidden {}, layers {}, heads {}/{}, vocab {}{}, seq {}) "
               "implies {} bytes{}",
               path, file->size(), h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size,
               h.shared_classifier ? "" : " unshared", h.seq_len, expected,
               file->size() < expected ? " (truncated)" : " (trailing bytes)");
  for (const auto& s : slots) {
    TensorView t;
    t.dtype = DType::F32;
    t.shape = s.shape;
    t.source = path;
    t.source_offset = r.offset();
    t.data = r.take(t.nbytes(), s.name);
    ck.tensors.add(s.name, t);
  }
  ck.tensors.keep(file);
  return ck;
}

void write_llama2c(const std::string& path, const Llama2cCheckpoint& ck, int version) {
  const Llama2cHeader& h = ck.header;
  AtomicFile f(path);
  const int32_t vocab = (version == 0 && !h.shared_classifier) ? -h.vocab_size : h.vocab_size;
  const int32_t ints[7] = {h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, vocab, h.seq_len};
  if (version == 1) {
    const uint32_t magic = kMagicV1;
    const int32_t v = 1;
    f.write(&magic, 4);
    f.write(&v, 4);
    f.write(ints, sizeof(ints));
    const uint8_t shared = h.shared_classifier ? 1 : 0;
    f.write(&shared, 1);
    std::vector<uint8_t> pad(kHeaderV1 - f.bytes_written(), 0);
    f.write(pad.data(), pad.size());
  } else {
    f.write(ints, sizeof(ints));
  }
  std::vector<float> freq;
  for (const auto& s : layout(h, version)) {
    const TensorView* t = ck.tensors.find(s.name);
    if (t) {
      f.write(t->data, t->nbytes());
      continue;
    }
    if (std::strncmp(s.name, "freq_cis_", 9) != 0) fail_internal("write_llama2c: tensor {} missing", s.name);
    // RoPE tables (legacy layout only; readers ignore them): cos/sin of pos * 10000^(-2i/head_size)
    const int hs = h.head_size();
    freq.assign(size_t(h.seq_len) * size_t(hs / 2), 0.0f);
    for (int p = 0; p < h.seq_len; ++p)
      for (int i = 0; i < hs / 2; ++i) {
        const double a = p / std::pow(10000.0, 2.0 * i / hs);
        freq[size_t(p * (hs / 2) + i)] = float(s.name[9] == 'r' ? std::cos(a) : std::sin(a));
      }
    f.write(freq.data(), freq.size() * sizeof(float));
  }
  f.commit();
}

}  // namespace quantscope
