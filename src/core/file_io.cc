#include "core/file_io.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace quantscope {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  tmp_ = path_ + ".tmp." + std::to_string(::getpid());
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) fail_input("{}: cannot create: {}", tmp_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, f_) != n)
    fail_internal("{}: write failed after {} bytes: {}", path_, written_, std::strerror(errno));
  written_ += n;
}

void AtomicFile::commit() {
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0)
    fail_internal("{}: flush failed after {} bytes: {}", path_, written_, std::strerror(errno));
  if (std::fclose(f_) != 0) {
    f_ = nullptr;
    fail_internal("{}: close failed: {}", path_, std::strerror(errno));
  }
  f_ = nullptr;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail_internal("{}: rename from {} failed: {}", path_, tmp_, std::strerror(errno));
  committed_ = true;
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  AtomicFile f(path);
  f.write(contents);
  f.commit();
}

}  // namespace quantscope
