// GGUF (llama.cpp's single-file checkpoint format), versions 3 and 2, read from a memory map.
//
// Layout (all little-endian):
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x  { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | u64 ne[n_dims] | u32 ggml_type | u64 offset }
//   zero padding to `general.alignment` (default 32) | data section
// where a string is u64 length + bytes (no terminator), an array value is u32 element type + u64
// count + elements, and each tensor offset is relative to the data section and a multiple of the
// alignment. ne[0] is the fastest-varying dimension (a row); the row-major shape is ne reversed.
//
// The file is untrusted: every inconsistency is an InputError naming the file and the byte offset of
// the field that is wrong. Version 2 has the same layout as 3 (v3 only added big-endian files, which
// are refused here); version 1 used 32-bit counts and is refused.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"
#include "formats/ggml_blocks.h"

namespace quantscope {

// Metadata value types (gguf_type in gguf.h of ggml).
enum class GgufType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
// "u32", "string", "array", ...; "unknown" for ids outside the enum.
std::string_view gguf_type_name(GgufType t);
bool gguf_type_is_unsigned(GgufType t);  // U8, U16, U32, U64
bool gguf_type_is_signed(GgufType t);    // I8, I16, I32, I64
bool gguf_type_is_float(GgufType t);     // F32, F64

// One metadata value. Scalars are widened into one field chosen by type (u for unsigned and bool, i
// for signed, f for floats — an f32 is exact in a double — s for strings), so values survive a
// read -> write round trip bit for bit. Arrays hold elements of one type, widened the same way into
// the one vector that matches elem_type (vs for arrays of arrays).
struct GgufValue {
  GgufType type = GgufType::U32;
  uint64_t u = 0;
  int64_t i = 0;
  double f = 0;
  std::string s;

  GgufType elem_type = GgufType::U8;
  std::vector<uint64_t> us;
  std::vector<int64_t> is;
  std::vector<double> fs;
  std::vector<std::string> ss;
  std::vector<GgufValue> vs;

  // Number of elements of an array (0 for scalars).
  uint64_t array_size() const;

  static GgufValue u8(uint8_t v);
  static GgufValue i8(int8_t v);
  static GgufValue u16(uint16_t v);
  static GgufValue i16(int16_t v);
  static GgufValue u32(uint32_t v);
  static GgufValue i32(int32_t v);
  static GgufValue f32(float v);
  static GgufValue boolean(bool v);
  static GgufValue string(std::string v);
  static GgufValue u64(uint64_t v);
  static GgufValue i64(int64_t v);
  static GgufValue f64(double v);
  static GgufValue string_array(std::vector<std::string> v);
  static GgufValue f32_array(const std::vector<float>& v);
  static GgufValue i32_array(const std::vector<int32_t>& v);
  // Arrays of any element type: pass the widened elements in the vector elem_type uses (u/i/f/s/v
  // as above). Element values must fit elem_type (checked when written).
  static GgufValue uint_array(GgufType elem_type, std::vector<uint64_t> v);
  static GgufValue int_array(GgufType elem_type, std::vector<int64_t> v);
  static GgufValue float_array(GgufType elem_type, std::vector<double> v);
  static GgufValue bool_array(const std::vector<bool>& v);
  static GgufValue array_of_arrays(std::vector<GgufValue> v);
};

bool operator==(const GgufValue& a, const GgufValue& b);

struct GgufKv {
  std::string key;
  GgufValue value;
  uint64_t offset = 0;  // file byte where this key-value pair starts (for messages)
};

struct GgufTensor {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;  // ggml order, 1..4 entries: ne[0] is the fastest-varying (one row)
  int64_t numel = 0;
  uint64_t offset = 0;       // bytes from the start of the data section (a multiple of the alignment)
  uint64_t file_offset = 0;  // bytes from the start of the file
  uint64_t nbytes = 0;       // exact size of the data, without padding
  const uint8_t* data = nullptr;  // into the mapping held by the GgufFile
  uint64_t info_offset = 0;       // file byte where this tensor's info record starts (for messages)
  std::string source;             // the file's path (for messages)

  int64_t cols() const { return ne.empty() ? 0 : ne[0]; }
  int64_t rows() const { return ne.empty() || ne[0] == 0 ? 0 : numel / ne[0]; }
  uint64_t row_bytes() const { return ggml_row_size(type, cols()); }
};

// A parsed GGUF file. Tensor data points into `file`, which lives as long as this object (or any
// shared_ptr copied from `file`).
struct GgufFile {
  std::string path;
  uint32_t version = 3;
  uint32_t alignment = 32;   // of the data section and of every tensor offset
  uint64_t data_offset = 0;  // file byte where the data section starts
  std::vector<GgufKv> metadata;     // file order
  std::vector<GgufTensor> tensors;  // file order
  std::shared_ptr<MappedFile> file;
  // Name -> index into metadata / tensors (filled by read_gguf).
  std::map<std::string, size_t, std::less<>> kv_index;
  std::map<std::string, size_t, std::less<>> tensor_index;

  const GgufKv* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters. Each throws InputError naming the file, the key (and the byte offset of its
  // pair) and the expected type when the key is missing or holds something else. Integer getters
  // accept any integer type whose value fits; float getters accept f32 and f64.
  uint32_t get_u32(std::string_view key) const;
  uint64_t get_u64(std::string_view key) const;
  int64_t get_i64(std::string_view key) const;
  float get_f32(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  const std::vector<std::string>& get_string_array(std::string_view key) const;
  std::vector<float> get_f32_array(std::string_view key) const;
  std::vector<int32_t> get_i32_array(std::string_view key) const;
  // The same, returning `fallback` when the key is absent (a present key of the wrong type still throws).
  uint32_t get_u32_or(std::string_view key, uint32_t fallback) const;
  float get_f32_or(std::string_view key, float fallback) const;
  bool get_bool_or(std::string_view key, bool fallback) const;
  std::string get_string_or(std::string_view key, std::string fallback) const;

  const GgufTensor* find_tensor(std::string_view name) const;
  // Throws InputError naming the file when there is no such tensor.
  const GgufTensor& tensor(std::string_view name) const;
};

// Parses and validates the header, metadata and tensor table of a GGUF file and maps its data.
// Throws InputError (file name + byte offset) for anything malformed, truncated or unsupported.
GgufFile read_gguf(const std::string& path, MappedFile::Mode mode = MappedFile::default_mode());

// Row-major shape: [ne[n-1], ..., ne[0]].
std::vector<int64_t> gguf_row_major_shape(const GgufTensor& t);

// A view of an f32/f16/bf16 tensor in place (no copy), row-major shape. InputError for quantized
// tensors (use gguf_dequantize_rows) and for data not aligned to its element size.
TensorView gguf_tensor_as_view(const GgufTensor& t);

// Dequantizes (or converts) rows [row0, row0 + nrows) of any supported type to fp32; a row is ne[0]
// elements, so out receives nrows * ne[0] floats. Serial: callers split rows across threads.
void gguf_dequantize_rows(const GgufTensor& t, int64_t row0, int64_t nrows, float* out);

}  // namespace quantscope
