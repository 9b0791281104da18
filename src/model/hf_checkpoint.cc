#include "model/hf_checkpoint.h"

#include <filesystem>

#include "core/error.h"
#include "model/hf_config.h"

namespace quantscope {

bool is_rotary_inv_freq(const std::string& name) {
  static constexpr std::string_view kPrefix = "model.layers.";
  static constexpr std::string_view kSuffix = ".self_attn.rotary_emb.inv_freq";
  std::string_view s(name);
  if (s.size() <= kPrefix.size() + kSuffix.size() || !s.starts_with(kPrefix) || !s.ends_with(kSuffix)) return false;
  std::string_view layer = s.substr(kPrefix.size(), s.size() - kPrefix.size() - kSuffix.size());
  for (char ch : layer)
    if (ch < '0' || ch > '9') return false;
  return true;
}

HfCheckpoint load_hf_checkpoint(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail_input("{}: not a directory (expected a Hugging Face checkpoint)", dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  if (!fs::exists(config_path, ec)) fail_input("{}: no config.json (expected a Hugging Face checkpoint)", dir);

  HfCheckpoint ck;
  ck.dir = dir;
  ck.config = read_hf_config(config_path);
  ck.tensors = read_safetensors_dir(dir, &ck.metadata);
  for (auto it = ck.tensors.tensors.begin(); it != ck.tensors.tensors.end();) {
    if (is_rotary_inv_freq(it->first)) {
      ck.skipped.push_back(it->first);
      it = ck.tensors.tensors.erase(it);
    } else {
      ++it;
    }
  }
  return ck;
}

}  // namespace quantscope
