// Writes GGUF v3 files (layout in formats/gguf.h): metadata in the order it was set, tensors in the
// order they were added, each tensor's data padded to the alignment (general.alignment, default 32).
// The file goes through AtomicFile, so a failed or interrupted write never leaves a partial file.
// Files are laid out as llama.cpp's own writer lays them out (tensor data contiguous, in order, each
// padded), so llama.cpp can load them; the one thing it cannot read is a metadata array of arrays.
// Model-level keys (general.architecture, general.file_type, general.quantization_version = 2 when
// any tensor is quantized, hyperparameters, tokenizer) are the caller's to set.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "formats/ggml_blocks.h"
#include "formats/gguf.h"

namespace quantscope {

class GgufWriter {
 public:
  // Produces rows [row0, row0 + nrows) of a tensor, already encoded in its ggml type, into dst
  // (nrows * row_bytes bytes; a row is ne[0] elements). Called during write() in row order, in chunks
  // of a few MiB, so whole models never need to be held encoded in memory.
  using RowFill = std::function<void(int64_t row0, int64_t nrows, uint8_t* dst)>;

  // Sets a metadata key. Setting a key again replaces its value and keeps its position.
  void set(const std::string& key, GgufValue value);
  void set_u32(const std::string& key, uint32_t v) { set(key, GgufValue::u32(v)); }
  void set_i32(const std::string& key, int32_t v) { set(key, GgufValue::i32(v)); }
  void set_u64(const std::string& key, uint64_t v) { set(key, GgufValue::u64(v)); }
  void set_f32(const std::string& key, float v) { set(key, GgufValue::f32(v)); }
  void set_bool(const std::string& key, bool v) { set(key, GgufValue::boolean(v)); }
  void set_string(const std::string& key, std::string v) { set(key, GgufValue::string(std::move(v))); }
  void set_string_array(const std::string& key, std::vector<std::string> v) {
    set(key, GgufValue::string_array(std::move(v)));
  }
  void set_f32_array(const std::string& key, const std::vector<float>& v) { set(key, GgufValue::f32_array(v)); }
  void set_i32_array(const std::string& key, const std::vector<int32_t>& v) { set(key, GgufValue::i32_array(v)); }
  // Data alignment in bytes (a power of two); stored as general.alignment.
  void set_alignment(uint32_t alignment);
  const std::vector<GgufKv>& metadata() const { return kvs_; }

  // Adds a tensor of shape ne (ggml order, ne[0] fastest, 1..4 dims; name at most 63 bytes) whose encoded bytes
  // (ggml_row_size(type, ne[0]) * rows) are at `data`, which must stay valid until write() returns.
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, const void* data);
  // The same with bytes produced on demand.
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne, RowFill fill);
  // The same from fp32 rows at `src` (rows x ne[0] floats, alive until write()), encoded to `type`
  // with the reference quantizers / round-to-nearest-even conversions.
  void add_tensor_from_f32(const std::string& name, GgmlType type, std::vector<int64_t> ne, const float* src);

  // Writes the whole file atomically. InputError when the path cannot be written.
  void write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    int64_t rows = 0;
    uint64_t row_bytes = 0;
    RowFill fill;
  };
  Tensor& new_tensor(const std::string& name, GgmlType type, std::vector<int64_t> ne);
  uint32_t alignment() const;

  std::vector<GgufKv> kvs_;
  std::vector<Tensor> tensors_;
};

// Encodes nrows x ncols fp32 values (row-major, a row is ncols = ne[0] elements) into `type` at dst
// with the reference quantizers (or f16/bf16 round-to-nearest-even, or a copy for f32). Returns the
// bytes written: nrows * ggml_row_size(type, ncols). InputError when ncols is not a multiple of the
// type's block size. Rows are independent, so the result does not depend on the thread count.
uint64_t quantize_rows_to(GgmlType type, const float* src, int64_t nrows, int64_t ncols, void* dst);

}  // namespace quantscope
