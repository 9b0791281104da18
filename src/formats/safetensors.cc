#include "formats/safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <filesystem>
#include <set>
#include <string_view>
#include <vector>

#include "core/byte_reader.h"
#include "core/error.h"
#include "core/mapped_file.h"

namespace quantscope {

static_assert(std::endian::native == std::endian::little, "safetensors is little-endian; big-endian hosts unsupported");

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kSingleFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// nlohmann's messages start with "[json.exception.parse_error.101] "; the user needs the rest only.
std::string strip_json_prefix(const std::string& what) {
  auto pos = what.find("] ");
  return pos == std::string::npos ? what : what.substr(pos + 2);
}

// Parses untrusted JSON that starts at byte `base` of file `name`. Syntax errors report the absolute
// byte offset; a key repeated inside one object is an error too (nlohmann would silently keep the last,
// so two different tensors could hide behind one name).
json parse_untrusted_json(std::string_view text, const std::string& name, uint64_t base, std::string_view what) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  auto callback = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == json::parse_event_t::key && !open_objects.empty()) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) duplicate = key;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(text.begin(), text.end(), callback);
  } catch (const json::parse_error& e) {
    // e.byte is 1-based (the last character read).
    const uint64_t at = base + (e.byte > 0 ? e.byte - 1 : 0);
    fail_input("{}: byte {}: invalid JSON in the {}: {}", name, at, what, strip_json_prefix(e.what()));
  } catch (const json::exception& e) {  // out_of_range: a number that overflows a double (1e999)
    fail_input("{}: byte {}: invalid JSON in the {}: {}", name, base, what, strip_json_prefix(e.what()));
  }
  if (!duplicate.empty()) fail_input("{}: {}: key '{}' appears twice in one JSON object", name, what, duplicate);
  return j;
}

// A non-negative JSON integer, or InputError naming `field`.
uint64_t json_u64(const json& v, const std::string& path, const std::string& tensor, std::string_view field) {
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer())
    fail_input("{}: header: tensor '{}': field '{}': value {} is negative", path, tensor, field, v.get<int64_t>());
  fail_input("{}: header: tensor '{}': field '{}': expected a non-negative integer, got {}", path, tensor, field,
             v.dump());
}

struct Entry {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;  // relative to the data area
};

Entry parse_entry(const std::string& path, const std::string& name, const json& e) {
  if (!e.is_object())
    fail_input("{}: header: tensor '{}': expected an object with dtype, shape, data_offsets, got {}", path, name,
               e.type_name());
  for (const auto& [key, value] : e.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail_input("{}: header: tensor '{}': unknown key '{}' (expected dtype, shape, data_offsets)", path, name, key);
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!e.contains(field)) fail_input("{}: header: tensor '{}': missing field '{}'", path, name, field);
  }
  Entry out;
  out.name = name;
  const json& dt = e["dtype"];
  if (!dt.is_string())
    fail_input("{}: header: tensor '{}': field 'dtype': expected a string, got {}", path, name, dt.dump());
  if (!dtype_from_safetensors(dt.get_ref<const std::string&>(), &out.dtype))
    fail_input("{}: header: tensor '{}': field 'dtype': unsupported dtype '{}' (expected F32, F16, BF16, F64, I8, U8, "
               "I16, I32, I64 or BOOL)",
               path, name, dt.get_ref<const std::string&>());

  const json& shape = e["shape"];
  if (!shape.is_array())
    fail_input("{}: header: tensor '{}': field 'shape': expected an array of integers, got {}", path, name,
               shape.dump());
  for (const json& d : shape) {
    uint64_t dim = json_u64(d, path, name, "shape");
    if (dim > (uint64_t(1) << 48))
      fail_input("{}: header: tensor '{}': field 'shape': dimension {} is implausible", path, name, dim);
    out.shape.push_back(int64_t(dim));
  }

  const json& offs = e["data_offsets"];
  if (!offs.is_array() || offs.size() != 2)
    fail_input("{}: header: tensor '{}': field 'data_offsets': expected [begin, end], got {}", path, name, offs.dump());
  out.begin = json_u64(offs[0], path, name, "data_offsets");
  out.end = json_u64(offs[1], path, name, "data_offsets");
  if (out.begin > out.end)
    fail_input("{}: header: tensor '{}': field 'data_offsets': begin {} is after end {}", path, name, out.begin,
               out.end);
  return out;
}

SafetensorsMetadata parse_metadata(const std::string& path, const json& m) {
  if (!m.is_object())
    fail_input("{}: header: field '__metadata__': expected an object of strings, got {}", path, m.type_name());
  SafetensorsMetadata out;
  for (const auto& [key, value] : m.items()) {
    if (!value.is_string())
      fail_input("{}: header: field '__metadata__.{}': expected a string, got {}", path, key, value.dump());
    out[key] = value.get<std::string>();
  }
  return out;
}

}  // namespace

TensorSet read_safetensors_file(const std::string& path, SafetensorsMetadata* metadata) {
  std::shared_ptr<MappedFile> file = MappedFile::open(path);
  const uint64_t file_size = file->size();
  ByteReader reader(file->data(), file_size, path);
  const uint64_t header_len = reader.read<uint64_t>("the safetensors header length");  // little-endian host
  if (header_len > kSafetensorsMaxHeaderBytes)
    fail_input("{}: byte 0: header length {} exceeds the {} byte limit (not a safetensors file?)", path, header_len,
               kSafetensorsMaxHeaderBytes);
  if (header_len > file_size - 8)
    fail_input("{}: byte 0: header length {} runs past the end of the file ({} bytes; truncated?)", path, header_len,
               file_size);
  const std::string_view header_text(reinterpret_cast<const char*>(file->data() + 8), header_len);
  const json header = parse_untrusted_json(header_text, path, 8, "safetensors header");
  if (!header.is_object())
    fail_input("{}: byte 8: the safetensors header must be a JSON object, got {}", path, header.type_name());

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;
  std::vector<Entry> entries;
  SafetensorsMetadata meta;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      meta = parse_metadata(path, value);
      continue;
    }
    Entry e = parse_entry(path, name, value);
    if (e.end > data_size)
      fail_input("{}: header: tensor '{}': data_offsets [{}, {}] end at file byte {}, past the end of the file ({} "
                 "bytes)",
                 path, name, e.begin, e.end, data_start + e.end, file_size);
    // numel * element size, guarding the product against overflow (dims are each < 2^48).
    uint64_t need = dtype_size(e.dtype);
    for (int64_t d : e.shape) {
      if (__builtin_mul_overflow(need, uint64_t(d), &need))
        fail_input("{}: header: tensor '{}': shape {} is too large", path, name, shape_string(e.shape));
    }
    if (e.end - e.begin != need)
      fail_input("{}: header: tensor '{}': data_offsets [{}, {}] hold {} bytes but dtype {} shape {} needs {}", path,
                 name, e.begin, e.end, e.end - e.begin, dtype_to_safetensors(e.dtype), shape_string(e.shape), need);
    entries.push_back(std::move(e));
  }

  // No byte may belong to two tensors (writing one would silently change the other). Empty tensors
  // own no bytes and are exempt.
  std::vector<const Entry*> by_begin;
  for (const Entry& e : entries)
    if (e.end > e.begin) by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const Entry& a = *by_begin[i - 1];
    const Entry& b = *by_begin[i];
    if (b.begin < a.end)
      fail_input("{}: byte {}: tensors '{}' (data_offsets [{}, {}]) and '{}' (data_offsets [{}, {}]) overlap", path,
                 data_start + b.begin, a.name, a.begin, a.end, b.name, b.begin, b.end);
  }

  TensorSet set;
  for (Entry& e : entries) {
    TensorView v;
    v.dtype = e.dtype;
    v.shape = std::move(e.shape);
    v.data = file->data() + data_start + e.begin;
    v.source = path;
    v.source_offset = data_start + e.begin;
    set.add(e.name, std::move(v));
  }
  set.keep(file);
  if (metadata) *metadata = std::move(meta);
  return set;
}

namespace {

TensorSet read_sharded(const std::string& dir, const std::string& index_path, SafetensorsMetadata* metadata) {
  const std::string text = read_text_file(index_path);
  const json index = parse_untrusted_json(text, index_path, 0, "safetensors index");
  if (!index.is_object()) fail_input("{}: byte 0: expected a JSON object, got {}", index_path, index.type_name());
  if (!index.contains("weight_map")) fail_input("{}: missing field 'weight_map'", index_path);
  const json& wm = index["weight_map"];
  if (!wm.is_object()) fail_input("{}: field 'weight_map': expected an object, got {}", index_path, wm.type_name());
  if (wm.empty()) fail_input("{}: field 'weight_map' is empty", index_path);

  std::map<std::string, std::string> shard_of;                // tensor -> shard file name
  std::map<std::string, std::vector<std::string>> by_shard;  // shard -> tensors, loaded in name order
  for (const auto& [tensor, shard] : wm.items()) {
    if (!shard.is_string())
      fail_input("{}: field 'weight_map.{}': expected a shard file name, got {}", index_path, tensor, shard.dump());
    const std::string& s = shard.get_ref<const std::string&>();
    // A file name only: an untrusted index must not reach outside the checkpoint directory.
    if (s.empty() || s == "." || s == ".." || s.find('/') != std::string::npos || s.find('\\') != std::string::npos)
      fail_input("{}: field 'weight_map.{}': shard '{}' must be a file name in the same directory", index_path, tensor,
                 s);
    shard_of[tensor] = s;
    by_shard[s].push_back(tensor);
  }

  TensorSet out;
  SafetensorsMetadata merged;
  for (const auto& [shard, names] : by_shard) {
    const std::string shard_path = (fs::path(dir) / shard).string();
    std::error_code ec;
    if (!fs::is_regular_file(shard_path, ec))
      fail_input("{}: weight_map: tensor '{}' is in shard '{}', which does not exist", index_path, names.front(),
                 shard_path);
    SafetensorsMetadata shard_meta;
    TensorSet part = read_safetensors_file(shard_path, &shard_meta);
    for (const std::string& name : names) {
      if (!part.find(name))
        fail_input("{}: weight_map: tensor '{}' should be in shard '{}', but that file has no such tensor", index_path,
                   name, shard);
    }
    for (auto& [name, view] : part.tensors) {
      auto it = shard_of.find(name);
      if (it == shard_of.end())
        fail_input("{}: weight_map: tensor '{}' is in shard '{}' but the weight_map does not list it", index_path, name,
                   shard);
      if (it->second != shard)
        fail_input("{}: weight_map: tensor '{}' is in shard '{}' but the weight_map puts it in '{}'", index_path, name,
                   shard, it->second);
      out.add(name, std::move(view));
    }
    for (auto& owner : part.owners) out.owners.push_back(std::move(owner));
    merged.insert(shard_meta.begin(), shard_meta.end());  // insert keeps the first value of a key
  }
  if (metadata) *metadata = std::move(merged);
  return out;
}

}  // namespace

bool has_safetensors(const std::string& dir) {
  std::error_code ec;
  return fs::exists(fs::path(dir) / kSingleFile, ec) || fs::exists(fs::path(dir) / kIndexFile, ec);
}

TensorSet read_safetensors_dir(const std::string& dir, SafetensorsMetadata* metadata) {
  const std::string single = (fs::path(dir) / kSingleFile).string();
  const std::string index = (fs::path(dir) / kIndexFile).string();
  std::error_code ec;
  const bool has_single = fs::exists(single, ec), has_index = fs::exists(index, ec);
  if (has_single && has_index)
    fail_input("{}: both {} and {} exist; remove the stale one", dir, kSingleFile, kIndexFile);
  if (has_single) return read_safetensors_file(single, metadata);
  if (has_index) return read_sharded(dir, index, metadata);
  fail_input("{}: no {} or {} found", dir, kSingleFile, kIndexFile);
}

}  // namespace quantscope
