// Streaming safetensors writer: tensors are produced chunk by chunk through a callback and written
// straight to disk, so a multi-GB checkpoint never has to be held in memory (peak extra memory is one
// chunk of about kSafetensorsWriteChunkBytes). Every file goes through AtomicFile (temp file + rename),
// so a killed writer never leaves a complete-looking partial file.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "core/tensor_set.h"
#include "formats/safetensors.h"

namespace quantscope {

// Bytes of tensor data the writer asks `fill` for at a time (whole rows; at least one row).
inline constexpr uint64_t kSafetensorsWriteChunkBytes = 64ull << 20;

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  // Writes rows [row0, row0 + nrows) in the storage dtype, row-major, into dst (nrows * row_bytes()
  // bytes). A row is a slice along shape[0] (TensorView::rows/cols convention: a 1-D tensor has one
  // element per row, a 0-D tensor one row). Not called for empty tensors.
  std::function<void(int64_t row0, int64_t nrows, void* dst)> fill;

  int64_t numel() const;
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  uint64_t row_bytes() const;
  uint64_t nbytes() const { return uint64_t(numel()) * dtype_size(dtype); }
};

// A TensorToWrite filled by one call fill_all(dst) over the whole tensor (nbytes() bytes), for producers
// that cannot work in rows (e.g. packing a whole matrix at once). That tensor is held in memory while it
// is written, then freed.
TensorToWrite whole_tensor_to_write(std::string name, DType dtype, std::vector<int64_t> shape,
                                    std::function<void(void* dst)> fill_all);
// A TensorToWrite that copies a view's bytes (the view's data must outlive the write).
TensorToWrite tensor_to_write(const std::string& name, const TensorView& view);
// All tensors of a set, in name order.
std::vector<TensorToWrite> tensors_to_write(const TensorSet& set);

// Writes one .safetensors file: tensors in the given order, data contiguous and unpadded, header
// padded with spaces to a multiple of 8 bytes so 8-byte-aligned data follows it. Returns the file size.
// Duplicate or empty names and negative dimensions are internal errors (callers build the list).
// `chunk_bytes` bounds the bytes asked of `fill` per call (tests use small values to cover chunking).
uint64_t write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                           const SafetensorsMetadata& metadata = {},
                           uint64_t chunk_bytes = kSafetensorsWriteChunkBytes);

struct SafetensorsWriteResult {
  std::vector<std::string> files;  // paths written, shards first, then the index (if any)
  uint64_t tensor_bytes = 0;       // sum of tensor data sizes (the index's metadata.total_size)
  uint64_t file_bytes = 0;         // sum of the sizes of all files written
};

// Writes `dir/model.safetensors` when all tensors fit in max_shard_bytes of data, else HF-style shards
// `dir/model-00001-of-0000N.safetensors` (greedy in order; a tensor bigger than the limit gets a shard
// of its own) and `dir/model.safetensors.index.json` ({"metadata": {"total_size"}, "weight_map"}),
// written last. `dir` must exist.
SafetensorsWriteResult write_safetensors_sharded(const std::string& dir, const std::vector<TensorToWrite>& tensors,
                                                 const SafetensorsMetadata& metadata, uint64_t max_shard_bytes);

}  // namespace quantscope
