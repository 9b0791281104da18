// safetensors reader (https://github.com/huggingface/safetensors): one file, or a directory holding
// `model.safetensors` or the sharded `model.safetensors.index.json` + `model-0000K-of-0000N.safetensors`.
//
// File layout: u64 little-endian header length N, N bytes of JSON header (padded with spaces), then
// the data area. The header maps each tensor name to {dtype, shape, data_offsets [begin, end)} with
// offsets relative to the start of the data area, plus an optional "__metadata__" string->string map.
//
// Files are memory-mapped, never copied: every returned TensorView points into a mapping that the
// TensorSet keeps alive. Everything in the file is treated as untrusted and checked before a view is
// made; errors are InputErrors naming the file and the byte offset or header field.
#pragma once

#include <map>
#include <string>

#include "core/tensor_set.h"

namespace quantscope {

using SafetensorsMetadata = std::map<std::string, std::string>;

// Largest accepted JSON header (the format's own reader uses the same 100 MB cap).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100ull << 20;

// Reads one .safetensors file. `metadata`, when given, receives the "__metadata__" map (empty if
// absent). TensorView::source is `path`, source_offset the absolute file offset of the tensor's data.
TensorSet read_safetensors_file(const std::string& path, SafetensorsMetadata* metadata = nullptr);

// Reads `dir/model.safetensors`, or the shards listed by `dir/model.safetensors.index.json` (each
// shard mapped once; the index's weight_map and the shards' contents must agree exactly). Having
// both is an error: which one is current would be a guess. `metadata` receives the union of the
// shards' "__metadata__" maps (the first shard wins on conflicting keys).
TensorSet read_safetensors_dir(const std::string& dir, SafetensorsMetadata* metadata = nullptr);

// True when `dir` holds `model.safetensors` or `model.safetensors.index.json`.
bool has_safetensors(const std::string& dir);

}  // namespace quantscope
