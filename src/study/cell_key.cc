#include "study/cell_key.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/build_info.h"
#include "core/error.h"
#include "core/sha256.h"
#include "targets/targets_builtin.h"

namespace quantscope {
namespace fs = std::filesystem;

std::string content_hash(const std::string& path) {
  if (fs::is_directory(path)) {
    std::vector<std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file()) files.push_back(fs::relative(e.path(), path).string());
    std::sort(files.begin(), files.end());
    Sha256 d;
    for (const auto& f : files) {
      d.update(f);
      d.update(std::string_view("\0", 1));
      d.update(content_hash((fs::path(path) / f).string()));
    }
    return d.hex();
  }
  // Hashing the same data file for every cell would cost seconds per cell on a large text; a file is
  // hashed again only when its size or modification time changes.
  static std::mutex mu;
  static std::map<std::string, std::string> memo;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const auto mtime = fs::last_write_time(path, ec).time_since_epoch().count();
  const std::string id = fmt::format("{}|{}|{}", path, size, mtime);
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = memo.find(id);
    if (it != memo.end()) return it->second;
  }
  const std::string h = sha256_file_hex(path);
  std::lock_guard<std::mutex> lock(mu);
  memo[id] = h;
  return h;
}

nlohmann::json quant_key_document(const ModelIdentity& model, const nlohmann::json& recipe,
                                  const nlohmann::json& calibration) {
  return {{"model", model.weights_hash}, {"tokenizer", model.tokenizer_hash}, {"recipe", recipe},
          {"calibration", calibration}};
}

nlohmann::json calibration_document(const StudyCalibration& c, uint64_t seed) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : c.files) files.push_back(content_hash(f));
  return {{"files", files}, {"samples", c.samples}, {"tokens", c.tokens}, {"seed", seed}};
}

nlohmann::json task_document(const StudyTask& t) {
  return {{"kind", t.kind},       {"protocol", t.protocol}, {"ctx", t.ctx},
          {"windows", t.windows}, {"limit", t.limit},       {"data", content_hash(t.path)}};
}

std::string target_hash(const std::string& target) {
  for (const auto& f : builtin_target_files())
    if (f.name == target) return sha256_hex(f.json);
  if (fs::exists(target)) return content_hash(target);
  fail_input("target '{}': not a built-in target or a profile file", target);
}

std::string document_key(const std::string& kind, const nlohmann::json& document) {
  // nlohmann::json objects are ordered maps, so dump() is canonical (sorted keys, no spaces).
  const nlohmann::json d = {{"kind", kind}, {"document", document}, {"quantscope_version", build_version()}};
  return sha256_hex(d.dump());
}

std::string cell_key(const std::string& quant_key_or_model, const std::string& target, const nlohmann::json& task) {
  return document_key("cell", {{"model", quant_key_or_model}, {"target", target_hash(target)}, {"task", task}});
}

std::string reference_key(const ModelIdentity& model, const nlohmann::json& task) {
  return document_key("kld-reference", {{"model", model.weights_hash}, {"tokenizer", model.tokenizer_hash}, {"task", task}});
}

}  // namespace quantscope
