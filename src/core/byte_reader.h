// Bounds-checked little-endian reads from an untrusted byte range. Every failure names the file and
// the byte offset, e.g. "m.gguf: byte 24: string length 9223372036854775807 runs past the end".
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/error.h"

namespace quantscope {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, uint64_t size, std::string name)
      : data_(data), size_(size), name_(std::move(name)) {}

  uint64_t offset() const { return pos_; }
  uint64_t size() const { return size_; }
  uint64_t remaining() const { return size_ - pos_; }
  const std::string& name() const { return name_; }
  const uint8_t* data() const { return data_; }
  void seek(uint64_t pos) {
    if (pos > size_) fail_input("{}: byte {}: offset past the end of the file ({} bytes)", name_, pos, size_);
    pos_ = pos;
  }

  // Ensures n more bytes exist; `what` says what was being read.
  void need(uint64_t n, std::string_view what) const {
    if (n > size_ - pos_)
      fail_input("{}: byte {}: {} needs {} bytes but only {} remain (file truncated?)", name_, pos_, what, n,
                 size_ - pos_);
  }

  template <typename T>
  T read(std::string_view what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  const uint8_t* take(uint64_t n, std::string_view what) {
    need(n, what);
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }

  std::string read_string(uint64_t n, std::string_view what) {
    const uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), n);
  }

  [[noreturn]] void fail(std::string_view message) const { fail_input("{}: byte {}: {}", name_, pos_, message); }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  std::string name_;
};

}  // namespace quantscope
