// A read-only view of a whole file: memory-mapped by default (weights are never copied), or read
// into memory when mapping is disabled (QUANTSCOPE_NO_MMAP=1 or MappedFile::Mode::Read).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace quantscope {

class MappedFile {
 public:
  enum class Mode { Map, Read };
  // Throws InputError naming the path when the file cannot be opened or read.
  static std::shared_ptr<MappedFile> open(const std::string& path, Mode mode = default_mode());
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  static Mode default_mode();

 private:
  MappedFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
  bool mapped_ = false;
  std::unique_ptr<uint8_t[]> buffer_;
};

// Drops the resident pages wholly inside [p, p + n) of a file mapping whose bytes were copied elsewhere
// (e.g. packed codes moved into a quantized layer), so the weights are not held twice: MADV_PAGEOUT
// discards clean file pages (re-read from the file if touched again) and never changes content; on
// anonymous memory without swap, or kernels without it, it does nothing.
void release_resident_pages(const void* p, uint64_t n);

// Whole file as a string (small text files: JSON, tokenizer configs). Throws InputError.
std::string read_text_file(const std::string& path);

// True when the regular file at `path` begins with `magic` (reads only those bytes). Throws
// InputError like MappedFile::open when it cannot be opened or is not a regular file.
bool file_starts_with(const std::string& path, std::string_view magic);

}  // namespace quantscope
