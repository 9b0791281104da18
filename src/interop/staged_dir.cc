#include "interop/staged_dir.h"

#include <unistd.h>

#include <filesystem>

#include "core/error.h"

namespace quantscope {

namespace fs = std::filesystem;

StagedDir::StagedDir(std::string dir, bool replace_existing) : dir_(std::move(dir)), replace_(replace_existing) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  std::error_code ec;
  if (fs::exists(dir_, ec) && !replace_)
    fail_input("{}: the output already exists (pass --force to replace it)", dir_);
  tmp_ = dir_ + ".tmp." + std::to_string(::getpid());
  fs::remove_all(tmp_, ec);
  if (!fs::create_directories(tmp_, ec) || ec)
    fail_input("{}: cannot create the staging directory ({})", tmp_, ec ? ec.message() : "exists");
}

StagedDir::~StagedDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void StagedDir::commit() {
  std::error_code ec;
  std::string old;
  if (fs::exists(dir_, ec)) {
    if (!replace_) fail_input("{}: appeared while exporting; not replaced", dir_);
    old = dir_ + ".old." + std::to_string(::getpid());
    fs::remove_all(old, ec);
    fs::rename(dir_, old, ec);
    if (ec) fail_input("{}: cannot move the previous output aside ({})", dir_, ec.message());
  }
  fs::rename(tmp_, dir_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, dir_, ec);  // put the previous output back
    fail_input("{}: cannot rename {} into place", dir_, tmp_);
  }
  committed_ = true;
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace quantscope
