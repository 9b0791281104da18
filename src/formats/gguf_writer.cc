#include "formats/gguf_writer.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>

#include "core/error.h"
#include "core/file_io.h"
#include "core/parallel.h"

namespace quantscope {

namespace {

constexpr uint32_t kDefaultAlignment = 32;
constexpr size_t kMaxTensorName = 64;
constexpr uint64_t kChunkBytes = uint64_t(8) << 20;  // encoded bytes per RowFill call (at least one row)

// Header bytes, built in memory (metadata is at most a few MiB: vocabularies).
class Encoder {
 public:
  template <typename T>
  void put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_.append(b, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    out_ += s;
  }
  std::string& bytes() { return out_; }

  // One element of type t taken from the widened fields; values must fit t.
  void put_scalar(const std::string& key, GgufType t, uint64_t u, int64_t i, double f) {
    auto check_u = [&](uint64_t hi) {
      if (u > hi) fail_internal("GgufWriter: '{}': value {} does not fit in {}", key, u, gguf_type_name(t));
    };
    auto check_i = [&](int64_t lo, int64_t hi) {
      if (i < lo || i > hi) fail_internal("GgufWriter: '{}': value {} does not fit in {}", key, i, gguf_type_name(t));
    };
    switch (t) {
      case GgufType::U8: check_u(0xff); put<uint8_t>(uint8_t(u)); return;
      case GgufType::U16: check_u(0xffff); put<uint16_t>(uint16_t(u)); return;
      case GgufType::U32: check_u(0xffffffffu); put<uint32_t>(uint32_t(u)); return;
      case GgufType::U64: put<uint64_t>(u); return;
      case GgufType::Bool: check_u(1); put<uint8_t>(uint8_t(u)); return;
      case GgufType::I8: check_i(-128, 127); put<int8_t>(int8_t(i)); return;
      case GgufType::I16: check_i(-32768, 32767); put<int16_t>(int16_t(i)); return;
      case GgufType::I32:
        check_i(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max());
        put<int32_t>(int32_t(i));
        return;
      case GgufType::I64: put<int64_t>(i); return;
      case GgufType::F32: put<float>(float(f)); return;
      case GgufType::F64: put<double>(f); return;
      default: fail_internal("GgufWriter: '{}': {} is not a scalar type", key, gguf_type_name(t));
    }
  }

  void put_value(const std::string& key, const GgufValue& v) {
    if (v.type == GgufType::String) return put_string(v.s);
    if (v.type != GgufType::Array) return put_scalar(key, v.type, v.u, v.i, v.f);
    const GgufType e = v.elem_type;
    if (uint32_t(e) > uint32_t(GgufType::F64))
      fail_internal("GgufWriter: '{}': unknown array element type {}", key, uint32_t(e));
    // Exactly one of the element vectors may hold data: the one elem_type uses.
    const bool uses_u = gguf_type_is_unsigned(e) || e == GgufType::Bool, uses_i = gguf_type_is_signed(e),
               uses_f = gguf_type_is_float(e), uses_s = e == GgufType::String, uses_v = e == GgufType::Array;
    if ((!uses_u && !v.us.empty()) || (!uses_i && !v.is.empty()) || (!uses_f && !v.fs.empty()) ||
        (!uses_s && !v.ss.empty()) || (!uses_v && !v.vs.empty()))
      fail_internal("GgufWriter: '{}': array of {} holds elements in the wrong vector", key, gguf_type_name(e));
    put<uint32_t>(uint32_t(e));
    put<uint64_t>(v.array_size());
    if (uses_u)
      for (uint64_t x : v.us) put_scalar(key, e, x, 0, 0);
    else if (uses_i)
      for (int64_t x : v.is) put_scalar(key, e, 0, x, 0);
    else if (uses_f)
      for (double x : v.fs) put_scalar(key, e, 0, 0, x);
    else if (uses_s)
      for (const std::string& x : v.ss) put_string(x);
    else
      for (const GgufValue& x : v.vs) {
        if (x.type != GgufType::Array)
          fail_internal("GgufWriter: '{}': array of arrays holds a {}", key, gguf_type_name(x.type));
        put_value(key, x);
      }
  }

 private:
  std::string out_;
};

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty()) fail_internal("GgufWriter: empty metadata key");
  for (GgufKv& kv : kvs_)
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  kvs_.push_back(GgufKv{key, std::move(value), 0});
}

void GgufWriter::set_alignment(uint32_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    fail_internal("GgufWriter: alignment {} is not a power of two", alignment);
  set_u32("general.alignment", alignment);
}

uint32_t GgufWriter::alignment() const {
  for (const GgufKv& kv : kvs_)
    if (kv.key == "general.alignment") {
      const uint64_t a = kv.value.u;
      if (kv.value.type != GgufType::U32 || a == 0 || (a & (a - 1)) != 0)
        fail_internal("GgufWriter: general.alignment must be a u32 power of two");
      return uint32_t(a);
    }
  return kDefaultAlignment;
}

GgufWriter::Tensor& GgufWriter::new_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne) {
  for (const Tensor& t : tensors_)
    if (t.name == name) fail_internal("GgufWriter: tensor '{}' added twice", name);
  // llama.cpp keeps names in a 64-byte char array (GGML_MAX_NAME) and refuses files with longer ones.
  if (name.empty() || name.size() >= kMaxTensorName)
    fail_input("cannot store tensor '{}' in GGUF: names must be 1..{} bytes, this one is {}", name,
               kMaxTensorName - 1, name.size());
  if (ne.empty() || ne.size() > 4) fail_internal("GgufWriter: tensor '{}' has {} dimensions (1..4)", name, ne.size());
  const GgmlTypeTraits& tr = ggml_traits(type);
  int64_t rows = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] < 0) fail_internal("GgufWriter: tensor '{}' has ne[{}] = {}", name, d, ne[d]);
    if (d > 0 && __builtin_mul_overflow(rows, ne[d], &rows))
      fail_internal("GgufWriter: tensor '{}' dimensions overflow", name);
  }
  if (ne[0] % tr.block_size != 0)
    fail_input("cannot store tensor '{}' as {}: ne[0] = {} is not a multiple of its block size {}", name, tr.name,
               ne[0], tr.block_size);
  Tensor t;
  t.name = name;
  t.type = type;
  t.ne = std::move(ne);
  t.rows = rows;
  t.row_bytes = ggml_row_size(type, t.ne[0]);
  tensors_.push_back(std::move(t));
  return tensors_.back();
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, const void* data) {
  Tensor& t = new_tensor(name, type, std::move(ne));
  if (!data && t.rows > 0 && t.row_bytes > 0) {
    tensors_.pop_back();
    fail_internal("GgufWriter: tensor '{}' has no data", name);
  }
  const auto* bytes = static_cast<const uint8_t*>(data);
  const uint64_t row_bytes = t.row_bytes;
  t.fill = [bytes, row_bytes](int64_t row0, int64_t nrows, uint8_t* dst) {
    std::memcpy(dst, bytes + uint64_t(row0) * row_bytes, uint64_t(nrows) * row_bytes);
  };
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, RowFill fill) {
  if (!fill) fail_internal("GgufWriter: tensor '{}' has no fill function", name);
  new_tensor(name, type, std::move(ne)).fill = std::move(fill);
}

void GgufWriter::add_tensor_from_f32(const std::string& name, GgmlType type, std::vector<int64_t> ne,
                                     const float* src) {
  Tensor& t = new_tensor(name, type, std::move(ne));
  const int64_t cols = t.ne[0];
  t.fill = [type, src, cols](int64_t row0, int64_t nrows, uint8_t* dst) {
    quantize_rows_to(type, src + row0 * cols, nrows, cols, dst);
  };
}

void GgufWriter::write(const std::string& path) const {
  const uint32_t align = alignment();
  Encoder h;
  h.bytes().append("GGUF", 4);
  h.put<uint32_t>(3);
  h.put<uint64_t>(tensors_.size());
  h.put<uint64_t>(kvs_.size());
  for (const GgufKv& kv : kvs_) {
    h.put_string(kv.key);
    h.put<uint32_t>(uint32_t(kv.value.type));
    h.put_value(kv.key, kv.value);
  }
  std::vector<uint64_t> nbytes;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    h.put_string(t.name);
    h.put<uint32_t>(uint32_t(t.ne.size()));
    for (int64_t d : t.ne) h.put<uint64_t>(uint64_t(d));
    h.put<uint32_t>(uint32_t(t.type));
    h.put<uint64_t>(offset);
    nbytes.push_back(uint64_t(t.rows) * t.row_bytes);
    offset = align_up(offset + nbytes.back(), align);
  }
  const std::string zeros(align, '\0');
  h.bytes().append(zeros.data(), align_up(h.bytes().size(), align) - h.bytes().size());

  AtomicFile f(path);
  f.write(h.bytes());
  std::vector<uint8_t> buf;
  for (size_t k = 0; k < tensors_.size(); ++k) {
    const Tensor& t = tensors_[k];
    if (t.row_bytes > 0 && t.rows > 0) {
      const int64_t chunk_rows = int64_t(std::max<uint64_t>(1, kChunkBytes / t.row_bytes));
      for (int64_t r = 0; r < t.rows; r += chunk_rows) {
        const int64_t n = std::min(chunk_rows, t.rows - r);
        buf.resize(uint64_t(n) * t.row_bytes);
        t.fill(r, n, buf.data());
        f.write(buf.data(), buf.size());
      }
    }
    f.write(zeros.data(), align_up(nbytes[k], align) - nbytes[k]);
  }
  f.commit();
}

uint64_t quantize_rows_to(GgmlType type, const float* src, int64_t nrows, int64_t ncols, void* dst) {
  const GgmlTypeTraits& tr = ggml_traits(type);
  if (ncols < 0 || nrows < 0) fail_internal("quantize_rows_to: negative size {} x {}", nrows, ncols);
  if (ncols % tr.block_size != 0)
    fail_input("cannot encode rows of {} elements as {}: the row length must be a multiple of {}", ncols, tr.name,
               tr.block_size);
  const uint64_t row_bytes = ggml_row_size(type, ncols);
  auto* out = static_cast<uint8_t*>(dst);
  parallel_for(0, nrows, [&](int64_t r) {
    ggml_quantize_row(type, src + r * ncols, out + uint64_t(r) * row_bytes, ncols);
  });
  return uint64_t(nrows) * row_bytes;
}

}  // namespace quantscope
