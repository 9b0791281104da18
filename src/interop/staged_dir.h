// An output directory that appears complete or not at all: everything is written into a sibling
// "<dir>.tmp.<pid>" and renamed into place by commit(). An existing <dir> is never touched unless the
// caller allowed replacing it (--force); then it is moved aside, the new one renamed in, the old one
// removed — so a failed or interrupted export leaves the previous output as it was.
#pragma once

#include <string>

namespace quantscope {

class StagedDir {
 public:
  // InputError when `dir` exists and !replace_existing, or when the staging directory cannot be made.
  StagedDir(std::string dir, bool replace_existing);
  ~StagedDir();  // removes the staging directory unless committed
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  const std::string& path() const { return tmp_; }  // where to write
  std::string file(const std::string& name) const { return tmp_ + "/" + name; }
  const std::string& final_path() const { return dir_; }
  void commit();

 private:
  std::string dir_, tmp_;
  bool replace_ = false, committed_ = false;
};

}  // namespace quantscope
