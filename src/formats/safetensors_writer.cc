#include "formats/safetensors_writer.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include "core/error.h"
#include "core/file_io.h"

namespace quantscope {

static_assert(std::endian::native == std::endian::little, "safetensors is little-endian; big-endian hosts unsupported");

int64_t TensorToWrite::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

uint64_t TensorToWrite::row_bytes() const {
  uint64_t n = dtype_size(dtype);
  for (size_t i = 1; i < shape.size(); ++i) n *= uint64_t(shape[i]);
  return n;
}

TensorToWrite tensor_to_write(const std::string& name, const TensorView& view) {
  TensorToWrite t;
  t.name = name;
  t.dtype = view.dtype;
  t.shape = view.shape;
  const uint8_t* base = static_cast<const uint8_t*>(view.data);
  const uint64_t row_bytes = t.row_bytes();
  t.fill = [base, row_bytes](int64_t row0, int64_t nrows, void* dst) {
    std::memcpy(dst, base + uint64_t(row0) * row_bytes, uint64_t(nrows) * row_bytes);
  };
  return t;
}

TensorToWrite whole_tensor_to_write(std::string name, DType dtype, std::vector<int64_t> shape,
                                    std::function<void(void* dst)> fill_all) {
  TensorToWrite t;
  t.name = std::move(name);
  t.dtype = dtype;
  t.shape = std::move(shape);
  const uint64_t row_bytes = t.row_bytes(), nbytes = t.nbytes();
  const int64_t rows = t.rows();
  // Shared by copies of the TensorToWrite (the sharded writer copies them): filled on the first chunk,
  // freed after the last.
  auto buffer = std::make_shared<std::unique_ptr<uint8_t[]>>();
  t.fill = [buffer, fill_all = std::move(fill_all), row_bytes, nbytes, rows](int64_t row0, int64_t nrows, void* dst) {
    if (!*buffer) {
      buffer->reset(new uint8_t[nbytes]);
      fill_all(buffer->get());
    }
    std::memcpy(dst, buffer->get() + uint64_t(row0) * row_bytes, uint64_t(nrows) * row_bytes);
    if (row0 + nrows == rows) buffer->reset();
  };
  return t;
}

std::vector<TensorToWrite> tensors_to_write(const TensorSet& set) {
  std::vector<TensorToWrite> out;
  out.reserve(set.tensors.size());
  for (const auto& [name, view] : set.tensors) out.push_back(tensor_to_write(name, view));
  return out;
}

namespace {

void check_tensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  std::set<std::string_view> names;
  for (const TensorToWrite& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__") fail_internal("{}: invalid tensor name '{}'", path, t.name);
    if (!names.insert(t.name).second) fail_internal("{}: tensor '{}' written twice", path, t.name);
    for (int64_t d : t.shape)
      if (d < 0) fail_internal("{}: tensor '{}' has negative shape {}", path, t.name, shape_string(t.shape));
    if (t.numel() > 0 && !t.fill) fail_internal("{}: tensor '{}' has no fill function", path, t.name);
  }
}

// Header JSON in tensor order (ordered_json keeps insertion order), padded with spaces to 8 bytes.
std::string build_header(const std::vector<TensorToWrite>& tensors, const SafetensorsMetadata& metadata) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    const uint64_t n = t.nbytes();
    h[t.name] = {{"dtype", std::string(dtype_to_safetensors(t.dtype))},
                 {"shape", t.shape},
                 {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string s = h.dump();
  s.append((8 - s.size() % 8) % 8, ' ');
  return s;
}

}  // namespace

uint64_t write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                           const SafetensorsMetadata& metadata, uint64_t chunk_bytes) {
  check_tensors(path, tensors);
  const std::string header = build_header(tensors, metadata);
  AtomicFile out(path);
  const uint64_t header_len = header.size();
  out.write(&header_len, 8);
  out.write(header);

  // One reusable chunk buffer of whole rows; sized for the largest chunk any tensor needs.
  uint64_t buffer_bytes = 0;
  for (const TensorToWrite& t : tensors) {
    if (t.numel() == 0) continue;
    const uint64_t rb = t.row_bytes();
    const uint64_t rows_per_chunk = std::max<uint64_t>(1, chunk_bytes / rb);
    buffer_bytes = std::max(buffer_bytes, std::min<uint64_t>(rows_per_chunk, uint64_t(t.rows())) * rb);
  }
  std::unique_ptr<uint8_t[]> buffer(new uint8_t[std::max<uint64_t>(buffer_bytes, 1)]);
  for (const TensorToWrite& t : tensors) {
    if (t.numel() == 0) continue;
    const uint64_t rb = t.row_bytes();
    const int64_t rows_per_chunk = int64_t(std::max<uint64_t>(1, chunk_bytes / rb));
    for (int64_t r = 0; r < t.rows(); r += rows_per_chunk) {
      const int64_t n = std::min(rows_per_chunk, t.rows() - r);
      t.fill(r, n, buffer.get());
      out.write(buffer.get(), uint64_t(n) * rb);
    }
  }
  const uint64_t total = out.bytes_written();
  out.commit();
  return total;
}

SafetensorsWriteResult write_safetensors_sharded(const std::string& dir, const std::vector<TensorToWrite>& tensors,
                                                 const SafetensorsMetadata& metadata, uint64_t max_shard_bytes) {
  namespace fs = std::filesystem;
  check_tensors(dir, tensors);
  if (max_shard_bytes == 0) fail_internal("{}: max_shard_bytes must be positive", dir);

  // Greedy in order, like transformers' shard_checkpoint: start a new shard when the next tensor
  // would overflow a non-empty one.
  std::vector<std::vector<TensorToWrite>> shards(1);
  uint64_t current = 0, total = 0;
  for (const TensorToWrite& t : tensors) {
    const uint64_t n = t.nbytes();
    if (!shards.back().empty() && current + n > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(t);
    current += n;
    total += n;
  }

  SafetensorsWriteResult result;
  result.tensor_bytes = total;
  if (shards.size() == 1) {
    const std::string path = (fs::path(dir) / "model.safetensors").string();
    result.file_bytes = write_safetensors(path, shards[0], metadata);
    result.files.push_back(path);
    return result;
  }

  nlohmann::ordered_json weight_map = nlohmann::ordered_json::object();
  const size_t count = shards.size();
  for (size_t i = 0; i < count; ++i) {
    const std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", i + 1, count);
    const std::string path = (fs::path(dir) / name).string();
    result.file_bytes += write_safetensors(path, shards[i], metadata);
    result.files.push_back(path);
    for (const TensorToWrite& t : shards[i]) weight_map[t.name] = name;
  }
  nlohmann::ordered_json index = {{"metadata", {{"total_size", total}}}, {"weight_map", std::move(weight_map)}};
  const std::string text = index.dump(2) + "\n";
  const std::string index_path = (fs::path(dir) / "model.safetensors.index.json").string();
  write_file_atomic(index_path, text);
  result.file_bytes += text.size();
  result.files.push_back(index_path);
  return result;
}

}  // namespace quantscope
