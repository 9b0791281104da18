// SHA-256 (FIPS 180-4), for keys that must not collide across a study's thousands of cells and must
// be the same on every machine that shares a results store (a 64-bit FNV would do for neither claim).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace quantscope {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  std::array<uint8_t, 32> digest();  // finishes; the object is spent afterwards
  std::string hex();                 // digest() as 64 lowercase hex digits

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(std::string_view s);
// Streams a file (InputError naming it when unreadable).
std::string sha256_file_hex(const std::string& path);

}  // namespace quantscope
