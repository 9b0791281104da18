#include "core/npy.h"

#include <cstring>

#include "core/byte_reader.h"
#include "core/file_io.h"
#include "core/mapped_file.h"

namespace quantscope {

void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    dict += (shape.size() == 1 || i + 1 < shape.size()) ? "," : "";
    if (i + 1 < shape.size()) dict += " ";
    n *= shape[i];
  }
  dict += "), }";
  // magic(6) + version(2) + header_len(2) + dict + padding + '\n' must be a multiple of 64
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string header("\x93NUMPY\x01\x00", 8);
  const uint16_t hl = uint16_t(dict.size());
  header.append(reinterpret_cast<const char*>(&hl), 2);
  header += dict;
  AtomicFile f(path);
  f.write(header);
  f.write(data, size_t(n) * sizeof(float));
  f.commit();
}

NpyArray read_npy_f32(const std::string& path) {
  auto file = MappedFile::open(path, MappedFile::Mode::Read);
  ByteReader r(file->data(), file->size(), path);
  const std::string magic = r.read_string(6, "npy magic");
  if (magic != std::string("\x93NUMPY", 6)) r.fail("not a .npy file (bad magic)");
  const uint8_t major = r.read<uint8_t>("npy version");
  r.read<uint8_t>("npy version");
  uint32_t hl = major == 1 ? r.read<uint16_t>("npy header length") : r.read<uint32_t>("npy header length");
  const std::string dict = r.read_string(hl, "npy header");
  const bool f8 = dict.find("'<f8'") != std::string::npos;
  if (!f8 && dict.find("'<f4'") == std::string::npos) fail_input("{}: only little-endian f4/f8 arrays are supported", path);
  if (dict.find("'fortran_order': True") != std::string::npos) fail_input("{}: fortran order not supported", path);
  NpyArray a;
  auto lp = dict.find('('), rp = dict.find(')');
  if (lp == std::string::npos || rp == std::string::npos) fail_input("{}: npy header has no shape", path);
  std::string s = dict.substr(lp + 1, rp - lp - 1);
  int64_t n = 1;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= s.size()) break;
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i) fail_input("{}: bad npy shape '{}'", path, s);
    a.shape.push_back(std::stoll(s.substr(i, j - i)));
    n *= a.shape.back();
    i = j;
  }
  a.data.resize(size_t(n));
  const uint8_t* p = r.take(uint64_t(n) * (f8 ? 8 : 4), "npy data");
  if (f8) {
    for (int64_t k = 0; k < n; ++k) {
      double d;
      std::memcpy(&d, p + 8 * k, 8);
      a.data[size_t(k)] = float(d);
    }
  } else {
    std::memcpy(a.data.data(), p, size_t(n) * 4);
  }
  return a;
}

}  // namespace quantscope
