// Writing files so that nothing partial is ever left looking complete: data goes to a temporary
// path beside the target and is renamed into place only after a successful flush.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace quantscope {

class AtomicFile {
 public:
  // Opens "<path>.tmp.<pid>" for writing. Throws InputError if the directory is not writable.
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  uint64_t bytes_written() const { return written_; }
  // Flushes, fsyncs and renames into place. A failed write, flush or rename (disk full, file size
  // limit, I/O error) is an InternalError (exit 1: the environment, not the user's input, is at fault);
  // the temporary file is removed either way.
  void commit();

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Convenience: writes a whole string atomically.
void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace quantscope
