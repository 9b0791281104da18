#include "formats/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/byte_reader.h"
#include "core/error.h"

namespace quantscope {

// ---------------------------------------------------------------------------------------------
// Value types

std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::U8: return "u8";
    case GgufType::I8: return "i8";
    case GgufType::U16: return "u16";
    case GgufType::I16: return "i16";
    case GgufType::U32: return "u32";
    case GgufType::I32: return "i32";
    case GgufType::F32: return "f32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "string";
    case GgufType::Array: return "array";
    case GgufType::U64: return "u64";
    case GgufType::I64: return "i64";
    case GgufType::F64: return "f64";
  }
  return "unknown";
}

bool gguf_type_is_unsigned(GgufType t) {
  return t == GgufType::U8 || t == GgufType::U16 || t == GgufType::U32 || t == GgufType::U64;
}
bool gguf_type_is_signed(GgufType t) {
  return t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
}
bool gguf_type_is_float(GgufType t) { return t == GgufType::F32 || t == GgufType::F64; }

uint64_t GgufValue::array_size() const {
  if (type != GgufType::Array) return 0;
  if (gguf_type_is_unsigned(elem_type) || elem_type == GgufType::Bool) return us.size();
  if (gguf_type_is_signed(elem_type)) return is.size();
  if (gguf_type_is_float(elem_type)) return fs.size();
  if (elem_type == GgufType::String) return ss.size();
  return vs.size();
}

namespace {
GgufValue scalar(GgufType t) {
  GgufValue v;
  v.type = t;
  return v;
}
GgufValue array(GgufType elem) {
  GgufValue v;
  v.type = GgufType::Array;
  v.elem_type = elem;
  return v;
}
}  // namespace

GgufValue GgufValue::u8(uint8_t x) { auto v = scalar(GgufType::U8); v.u = x; return v; }
GgufValue GgufValue::i8(int8_t x) { auto v = scalar(GgufType::I8); v.i = x; return v; }
GgufValue GgufValue::u16(uint16_t x) { auto v = scalar(GgufType::U16); v.u = x; return v; }
GgufValue GgufValue::i16(int16_t x) { auto v = scalar(GgufType::I16); v.i = x; return v; }
GgufValue GgufValue::u32(uint32_t x) { auto v = scalar(GgufType::U32); v.u = x; return v; }
GgufValue GgufValue::i32(int32_t x) { auto v = scalar(GgufType::I32); v.i = x; return v; }
GgufValue GgufValue::f32(float x) { auto v = scalar(GgufType::F32); v.f = x; return v; }
GgufValue GgufValue::boolean(bool x) { auto v = scalar(GgufType::Bool); v.u = x ? 1 : 0; return v; }
GgufValue GgufValue::string(std::string x) { auto v = scalar(GgufType::String); v.s = std::move(x); return v; }
GgufValue GgufValue::u64(uint64_t x) { auto v = scalar(GgufType::U64); v.u = x; return v; }
GgufValue GgufValue::i64(int64_t x) { auto v = scalar(GgufType::I64); v.i = x; return v; }
GgufValue GgufValue::f64(double x) { auto v = scalar(GgufType::F64); v.f = x; return v; }

GgufValue GgufValue::string_array(std::vector<std::string> x) {
  auto v = array(GgufType::String);
  v.ss = std::move(x);
  return v;
}
GgufValue GgufValue::f32_array(const std::vector<float>& x) {
  auto v = array(GgufType::F32);
  v.fs.assign(x.begin(), x.end());
  return v;
}
GgufValue GgufValue::i32_array(const std::vector<int32_t>& x) {
  auto v = array(GgufType::I32);
  v.is.assign(x.begin(), x.end());
  return v;
}
GgufValue GgufValue::uint_array(GgufType elem_type, std::vector<uint64_t> x) {
  auto v = array(elem_type);
  v.us = std::move(x);
  return v;
}
GgufValue GgufValue::int_array(GgufType elem_type, std::vector<int64_t> x) {
  auto v = array(elem_type);
  v.is = std::move(x);
  return v;
}
GgufValue GgufValue::float_array(GgufType elem_type, std::vector<double> x) {
  auto v = array(elem_type);
  v.fs = std::move(x);
  return v;
}
GgufValue GgufValue::bool_array(const std::vector<bool>& x) {
  auto v = array(GgufType::Bool);
  v.us.assign(x.begin(), x.end());
  return v;
}
GgufValue GgufValue::array_of_arrays(std::vector<GgufValue> x) {
  auto v = array(GgufType::Array);
  v.vs = std::move(x);
  return v;
}

bool operator==(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type) return false;
  if (a.type == GgufType::Array)
    return a.elem_type == b.elem_type && a.us == b.us && a.is == b.is && a.ss == b.ss && a.vs == b.vs &&
           std::equal(a.fs.begin(), a.fs.end(), b.fs.begin(), b.fs.end(),
                      [](double x, double y) { return std::memcmp(&x, &y, sizeof x) == 0; });
  // Floats compare by bits so that a NaN read back equals the NaN written.
  return a.u == b.u && a.i == b.i && a.s == b.s && std::memcmp(&a.f, &b.f, sizeof a.f) == 0;
}

// ---------------------------------------------------------------------------------------------
// Parsing

namespace {

constexpr uint32_t kMaxDims = 4;          // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;         // arrays of arrays nested deeper than this are refused
constexpr uint32_t kMaxKnownValueType = 12;

// Fewest bytes one element of type t takes in the file; guards counts before anything is allocated.
uint64_t min_encoded_size(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: return 8;
    case GgufType::String: return 8;   // u64 length
    case GgufType::Array: return 12;   // u32 type + u64 count
  }
  return 1;
}

class Parser {
 public:
  explicit Parser(ByteReader& r) : r_(r) {}

  std::string read_string(std::string_view what) {
    const uint64_t at = r_.offset();
    const uint64_t n = r_.read<uint64_t>(what);
    if (n > r_.remaining())
      fail_input("{}: byte {}: {} length {} runs past the end of the file ({} bytes remain)", r_.name(), at, what,
                 n, r_.remaining());
    return r_.read_string(n, what);
  }

  GgufType read_type(std::string_view what) {
    const uint64_t at = r_.offset();
    const uint32_t raw = r_.read<uint32_t>(what);
    if (raw > kMaxKnownValueType)
      fail_input("{}: byte {}: unknown metadata value type {} for {} (expected 0..{})", r_.name(), at, raw, what,
                 kMaxKnownValueType);
    return GgufType(raw);
  }

  GgufValue read_value(GgufType t, std::string_view key, int depth) {
    GgufValue v;
    v.type = t;
    switch (t) {
      case GgufType::U8: v.u = r_.read<uint8_t>(key); break;
      case GgufType::I8: v.i = r_.read<int8_t>(key); break;
      case GgufType::U16: v.u = r_.read<uint16_t>(key); break;
      case GgufType::I16: v.i = r_.read<int16_t>(key); break;
      case GgufType::U32: v.u = r_.read<uint32_t>(key); break;
      case GgufType::I32: v.i = r_.read<int32_t>(key); break;
      case GgufType::U64: v.u = r_.read<uint64_t>(key); break;
      case GgufType::I64: v.i = r_.read<int64_t>(key); break;
      case GgufType::F32: v.f = r_.read<float>(key); break;
      case GgufType::F64: v.f = r_.read<double>(key); break;
      case GgufType::Bool: {
        const uint64_t at = r_.offset();
        const uint8_t b = r_.read<uint8_t>(key);
        if (b > 1) fail_input("{}: byte {}: bool in '{}' is {}, expected 0 or 1", r_.name(), at, key, b);
        v.u = b;
        break;
      }
      case GgufType::String: v.s = read_string(fmt::format("value of '{}'", key)); break;
      case GgufType::Array: read_array(v, key, depth); break;
    }
    return v;
  }

 private:
  void read_array(GgufValue& v, std::string_view key, int depth) {
    const uint64_t type_at = r_.offset();
    if (depth >= kMaxArrayDepth)
      fail_input("{}: byte {}: '{}' nests arrays deeper than {} levels", r_.name(), type_at, key, kMaxArrayDepth);
    v.elem_type = read_type(key);
    const uint64_t count_at = r_.offset();
    const uint64_t n = r_.read<uint64_t>(key);
    if (n > r_.remaining() / min_encoded_size(v.elem_type))
      fail_input("{}: byte {}: array '{}' claims {} {} elements, more than the remaining {} bytes can hold",
                 r_.name(), count_at, key, n, gguf_type_name(v.elem_type), r_.remaining());
    const GgufType e = v.elem_type;
    if (gguf_type_is_unsigned(e) || e == GgufType::Bool) {
      v.us.reserve(n);
      for (uint64_t k = 0; k < n; ++k) v.us.push_back(read_value(e, key, depth + 1).u);
    } else if (gguf_type_is_signed(e)) {
      v.is.reserve(n);
      for (uint64_t k = 0; k < n; ++k) v.is.push_back(read_value(e, key, depth + 1).i);
    } else if (gguf_type_is_float(e)) {
      v.fs.reserve(n);
      for (uint64_t k = 0; k < n; ++k) v.fs.push_back(read_value(e, key, depth + 1).f);
    } else if (e == GgufType::String) {
      v.ss.reserve(n);
      const std::string what = fmt::format("element of '{}'", key);
      for (uint64_t k = 0; k < n; ++k) v.ss.push_back(read_string(what));
    } else {
      v.vs.reserve(n);
      for (uint64_t k = 0; k < n; ++k) v.vs.push_back(read_value(GgufType::Array, key, depth + 1));
    }
  }

  ByteReader& r_;
};

uint64_t align_up(uint64_t x, uint64_t alignment) { return (x + alignment - 1) / alignment * alignment; }

// Checked products, so that hostile dims cannot wrap around.
bool mul_overflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }

// Where the fields of one tensor info live, for messages after the whole table is read.
struct InfoFields {
  uint64_t offset_at = 0;
};

}  // namespace

GgufFile read_gguf(const std::string& path, MappedFile::Mode mode) {
  GgufFile g;
  g.path = path;
  g.file = MappedFile::open(path, mode);
  ByteReader r(g.file->data(), g.file->size(), path);
  Parser p(r);

  // ---- Header ----
  const uint8_t* magic = r.take(4, "magic");
  if (std::memcmp(magic, "GGUF", 4) != 0)
    fail_input("{}: byte 0: bad magic {:02x} {:02x} {:02x} {:02x}, expected \"GGUF\" (47 47 55 46); not a GGUF file",
               path, magic[0], magic[1], magic[2], magic[3]);
  const uint32_t version = r.read<uint32_t>("version");
  if (version == 1)
    fail_input("{}: byte 4: GGUF version 1 (32-bit counts) is not supported; re-convert with a current llama.cpp",
               path);
  if (version != 2 && version != 3) {
    if (version == 0x02000000u || version == 0x03000000u)
      fail_input("{}: byte 4: big-endian GGUF files are not supported", path);
    fail_input("{}: byte 4: unsupported GGUF version {} (expected 2 or 3)", path, version);
  }
  g.version = version;
  const uint64_t tensor_count = r.read<uint64_t>("tensor count");
  const uint64_t kv_count = r.read<uint64_t>("metadata count");
  // A tensor info takes >= 32 bytes (name length, n_dims, one dim, type, offset); a pair >= 13.
  if (kv_count > r.remaining() / 13)
    fail_input("{}: byte 16: metadata count {} cannot fit in the remaining {} bytes", path, kv_count, r.remaining());
  if (tensor_count > r.remaining() / 32)
    fail_input("{}: byte 8: tensor count {} cannot fit in the remaining {} bytes", path, tensor_count,
               r.remaining());

  // ---- Metadata ----
  g.metadata.reserve(kv_count);
  for (uint64_t k = 0; k < kv_count; ++k) {
    GgufKv kv;
    kv.offset = r.offset();
    kv.key = p.read_string("metadata key");
    if (kv.key.empty()) fail_input("{}: byte {}: empty metadata key", path, kv.offset);
    if (auto it = g.kv_index.find(kv.key); it != g.kv_index.end())
      fail_input("{}: byte {}: duplicate metadata key '{}' (first at byte {})", path, kv.offset, kv.key,
                 g.metadata[it->second].offset);
    const GgufType t = p.read_type(kv.key);
    kv.value = p.read_value(t, kv.key, 0);
    g.kv_index.emplace(kv.key, g.metadata.size());
    g.metadata.push_back(std::move(kv));
  }
  if (const GgufKv* a = g.find("general.alignment")) {
    if (a->value.type != GgufType::U32)
      fail_input("{}: byte {}: 'general.alignment' is {}, expected u32", path, a->offset,
                 gguf_type_name(a->value.type));
    const uint64_t al = a->value.u;
    if (al == 0 || (al & (al - 1)) != 0)
      fail_input("{}: byte {}: 'general.alignment' is {}, expected a power of two", path, a->offset, al);
    g.alignment = uint32_t(al);
  }

  // ---- Tensor infos ----
  g.tensors.reserve(tensor_count);
  std::vector<InfoFields> fields;
  fields.reserve(tensor_count);
  for (uint64_t k = 0; k < tensor_count; ++k) {
    GgufTensor t;
    t.source = path;
    t.info_offset = r.offset();
    t.name = p.read_string("tensor name");
    if (auto it = g.tensor_index.find(t.name); it != g.tensor_index.end())
      fail_input("{}: byte {}: duplicate tensor name '{}' (first at byte {})", path, t.info_offset, t.name,
                 g.tensors[it->second].info_offset);
    const uint64_t ndims_at = r.offset();
    const uint32_t n_dims = r.read<uint32_t>("tensor n_dims");
    if (n_dims == 0 || n_dims > kMaxDims)
      fail_input("{}: byte {}: tensor '{}' has {} dimensions, expected 1..{}", path, ndims_at, t.name, n_dims,
                 kMaxDims);
    const uint64_t dims_at = r.offset();
    uint64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t ne = r.read<uint64_t>("tensor dimension");
      if (ne > uint64_t(std::numeric_limits<int64_t>::max()) || mul_overflows(numel, ne, &numel) ||
          numel > uint64_t(std::numeric_limits<int64_t>::max()))
        fail_input("{}: byte {}: tensor '{}' dimensions overflow (ne[{}] = {})", path, dims_at + 8 * d, t.name, d,
                   ne);
      t.ne.push_back(int64_t(ne));
    }
    t.numel = int64_t(numel);
    const uint64_t type_at = r.offset();
    const uint32_t type_id = r.read<uint32_t>("tensor type");
    const GgmlTypeTraits* tr = find_ggml_type(type_id);
    if (!tr)
      fail_input("{}: byte {}: tensor '{}' has ggml type {} ({}), which is not supported (supported: {})", path,
                 type_at, t.name, type_id, ggml_type_name(type_id), ggml_supported_types());
    t.type = tr->type;
    if (t.ne[0] % tr->block_size != 0)
      fail_input("{}: byte {}: tensor '{}' has ne[0] = {}, not a multiple of the {} block size {}", path, dims_at,
                 t.name, t.ne[0], tr->name, tr->block_size);
    // numel <= 2^63 and type_size <= 34 per block_size elements, so this cannot overflow u64.
    t.nbytes = uint64_t(t.numel / tr->block_size) * tr->type_size;
    InfoFields f;
    f.offset_at = r.offset();
    t.offset = r.read<uint64_t>("tensor offset");
    if (t.offset % g.alignment != 0)
      fail_input("{}: byte {}: tensor '{}' offset {} is not a multiple of the alignment {}", path, f.offset_at,
                 t.name, t.offset, g.alignment);
    g.tensor_index.emplace(t.name, g.tensors.size());
    g.tensors.push_back(std::move(t));
    fields.push_back(f);
  }

  // ---- Data section ----
  const uint64_t size = g.file->size();
  g.data_offset = align_up(r.offset(), g.alignment);
  for (size_t k = 0; k < g.tensors.size(); ++k) {
    GgufTensor& t = g.tensors[k];
    const uint64_t room = g.data_offset > size ? 0 : size - g.data_offset;
    if (t.offset > room || t.nbytes > room - t.offset)
      fail_input("{}: byte {}: tensor '{}' data (offset {} + {} bytes after the data section at byte {}) runs past "
                 "the end of the file ({} bytes)",
                 path, fields[k].offset_at, t.name, t.offset, t.nbytes, g.data_offset, size);
    t.file_offset = g.data_offset + t.offset;
    // An empty tensor may sit at the very end, past the mapping; it has no bytes to point at.
    t.data = t.nbytes > 0 ? g.file->data() + t.file_offset : nullptr;
  }
  // Overlaps: sort by offset, compare neighbours (empty tensors overlap nothing).
  std::vector<size_t> order;
  for (size_t k = 0; k < g.tensors.size(); ++k)
    if (g.tensors[k].nbytes > 0) order.push_back(k);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return g.tensors[a].offset < g.tensors[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensor& a = g.tensors[order[k - 1]];
    const GgufTensor& b = g.tensors[order[k]];
    if (a.offset + a.nbytes > b.offset)
      fail_input("{}: byte {}: tensor '{}' data [{}, {}) overlaps tensor '{}' data [{}, {}) (data-section offsets)",
                 path, fields[order[k]].offset_at, b.name, b.offset, b.offset + b.nbytes, a.name, a.offset,
                 a.offset + a.nbytes);
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Metadata getters

namespace {

std::string describe(const GgufValue& v) {
  if (v.type != GgufType::Array) return std::string(gguf_type_name(v.type));
  return fmt::format("array of {}", gguf_type_name(v.elem_type));
}

[[noreturn]] void fail_missing(const GgufFile& g, std::string_view key, std::string_view expected) {
  fail_input("{}: metadata key '{}' is missing (expected {})", g.path, key, expected);
}

[[noreturn]] void fail_type(const GgufFile& g, const GgufKv& kv, std::string_view expected) {
  fail_input("{}: byte {}: metadata key '{}' is {}, expected {}", g.path, kv.offset, kv.key, describe(kv.value),
             expected);
}

const GgufKv& need(const GgufFile& g, std::string_view key, std::string_view expected) {
  const GgufKv* kv = g.find(key);
  if (!kv) fail_missing(g, key, expected);
  return *kv;
}

// An integer value (of any integer type) checked to lie in [lo, hi].
template <typename T>
T int_in_range(const GgufFile& g, const GgufKv& kv, GgufType t, uint64_t u, int64_t i, std::string_view expected) {
  constexpr auto lo = std::numeric_limits<T>::min();
  constexpr auto hi = std::numeric_limits<T>::max();
  if (gguf_type_is_unsigned(t)) {
    if (u > uint64_t(hi))
      fail_input("{}: byte {}: metadata key '{}' value {} does not fit in {}", g.path, kv.offset, kv.key, u,
                 expected);
    return T(u);
  }
  if (gguf_type_is_signed(t)) {
    if (i < 0 && (!std::is_signed_v<T> || i < int64_t(lo)))
      fail_input("{}: byte {}: metadata key '{}' value {} does not fit in {}", g.path, kv.offset, kv.key, i,
                 expected);
    if (i > 0 && uint64_t(i) > uint64_t(hi))
      fail_input("{}: byte {}: metadata key '{}' value {} does not fit in {}", g.path, kv.offset, kv.key, i,
                 expected);
    return T(i);
  }
  fail_type(g, kv, expected);
}

template <typename T>
T get_int(const GgufFile& g, std::string_view key, std::string_view expected) {
  const GgufKv& kv = need(g, key, expected);
  return int_in_range<T>(g, kv, kv.value.type, kv.value.u, kv.value.i, expected);
}

}  // namespace

const GgufKv* GgufFile::find(std::string_view key) const {
  auto it = kv_index.find(key);
  return it == kv_index.end() ? nullptr : &metadata[it->second];
}

uint32_t GgufFile::get_u32(std::string_view key) const { return get_int<uint32_t>(*this, key, "u32"); }
uint64_t GgufFile::get_u64(std::string_view key) const { return get_int<uint64_t>(*this, key, "u64"); }
int64_t GgufFile::get_i64(std::string_view key) const { return get_int<int64_t>(*this, key, "i64"); }

float GgufFile::get_f32(std::string_view key) const {
  const GgufKv& kv = need(*this, key, "f32");
  if (!gguf_type_is_float(kv.value.type)) fail_type(*this, kv, "f32");
  return float(kv.value.f);
}

bool GgufFile::get_bool(std::string_view key) const {
  const GgufKv& kv = need(*this, key, "bool");
  if (kv.value.type != GgufType::Bool) fail_type(*this, kv, "bool");
  return kv.value.u != 0;
}

const std::string& GgufFile::get_string(std::string_view key) const {
  const GgufKv& kv = need(*this, key, "string");
  if (kv.value.type != GgufType::String) fail_type(*this, kv, "string");
  return kv.value.s;
}

const std::vector<std::string>& GgufFile::get_string_array(std::string_view key) const {
  const GgufKv& kv = need(*this, key, "array of string");
  if (kv.value.type != GgufType::Array || kv.value.elem_type != GgufType::String)
    fail_type(*this, kv, "array of string");
  return kv.value.ss;
}

std::vector<float> GgufFile::get_f32_array(std::string_view key) const {
  const GgufKv& kv = need(*this, key, "array of f32");
  if (kv.value.type != GgufType::Array || !gguf_type_is_float(kv.value.elem_type))
    fail_type(*this, kv, "array of f32");
  return std::vector<float>(kv.value.fs.begin(), kv.value.fs.end());
}

std::vector<int32_t> GgufFile::get_i32_array(std::string_view key) const {
  const GgufKv& kv = need(*this, key, "array of i32");
  const GgufValue& v = kv.value;
  if (v.type != GgufType::Array || !(gguf_type_is_signed(v.elem_type) || gguf_type_is_unsigned(v.elem_type)))
    fail_type(*this, kv, "array of i32");
  std::vector<int32_t> out(v.array_size());
  for (size_t k = 0; k < out.size(); ++k)
    out[k] = int_in_range<int32_t>(*this, kv, v.elem_type, v.us.empty() ? 0 : v.us[k], v.is.empty() ? 0 : v.is[k],
                                   "i32");
  return out;
}

uint32_t GgufFile::get_u32_or(std::string_view key, uint32_t fallback) const {
  return has(key) ? get_u32(key) : fallback;
}
float GgufFile::get_f32_or(std::string_view key, float fallback) const { return has(key) ? get_f32(key) : fallback; }
bool GgufFile::get_bool_or(std::string_view key, bool fallback) const { return has(key) ? get_bool(key) : fallback; }
std::string GgufFile::get_string_or(std::string_view key, std::string fallback) const {
  return has(key) ? get_string(key) : fallback;
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index.find(name);
  return it == tensor_index.end() ? nullptr : &tensors[it->second];
}

const GgufTensor& GgufFile::tensor(std::string_view name) const {
  const GgufTensor* t = find_tensor(name);
  if (!t) fail_input("{}: tensor '{}' is missing ({} tensors in the file)", path, name, tensors.size());
  return *t;
}

// ---------------------------------------------------------------------------------------------
// Tensor access

std::vector<int64_t> gguf_row_major_shape(const GgufTensor& t) { return {t.ne.rbegin(), t.ne.rend()}; }

TensorView gguf_tensor_as_view(const GgufTensor& t) {
  TensorView v;
  switch (t.type) {
    case GgmlType::F32: v.dtype = DType::F32; break;
    case GgmlType::F16: v.dtype = DType::F16; break;
    case GgmlType::BF16: v.dtype = DType::BF16; break;
    default:
      fail_input("{}: byte {}: tensor '{}' is {}; only f32, f16 and bf16 tensors can be used in place (dequantize "
                 "it instead)",
                 t.source, t.info_offset, t.name, ggml_traits(t.type).name);
  }
  if (reinterpret_cast<uintptr_t>(t.data) % dtype_size(v.dtype) != 0)
    fail_input("{}: byte {}: tensor '{}' data is not aligned to its {}-byte elements (general.alignment too small)",
               t.source, t.file_offset, t.name, dtype_size(v.dtype));
  v.shape = gguf_row_major_shape(t);
  v.data = t.data;
  v.source = t.source;
  v.source_offset = t.file_offset;
  return v;
}

void gguf_dequantize_rows(const GgufTensor& t, int64_t row0, int64_t nrows, float* out) {
  if (row0 < 0 || nrows < 0 || row0 > t.rows() || nrows > t.rows() - row0)
    fail_internal("gguf_dequantize_rows: rows [{}, {}) outside tensor '{}' with {} rows", row0, row0 + nrows, t.name,
                  t.rows());
  const int64_t cols = t.cols();
  const uint64_t row_bytes = t.row_bytes();
  for (int64_t r = 0; r < nrows; ++r)
    ggml_dequantize_row(t.type, t.data + uint64_t(row0 + r) * row_bytes, out + r * cols, cols);
}

}  // namespace quantscope
