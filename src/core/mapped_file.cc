#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace quantscope {

MappedFile::Mode MappedFile::default_mode() {
  const char* env = std::getenv("QUANTSCOPE_NO_MMAP");
  return (env && *env && std::strcmp(env, "0") != 0) ? Mode::Read : Mode::Map;
}

namespace {

// Opens a regular file for reading; returns the descriptor and its stat. O_NONBLOCK: opening a FIFO
// for reading would otherwise wait forever for a writer; it is refused as not a regular file. On a
// regular file the flag changes nothing.
int open_regular(const std::string& path, struct stat& st) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) fail_input("{}: cannot open: {}", path, std::strerror(errno));
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail_input("{}: not a regular file", path);
  }
  return fd;
}

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path, Mode mode) {
  struct stat st {};
  int fd = open_regular(path, st);
  std::shared_ptr<MappedFile> f(new MappedFile());
  f->path_ = path;
  f->size_ = uint64_t(st.st_size);
  if (f->size_ == 0) {
    ::close(fd);
    static const uint8_t kEmpty = 0;
    f->data_ = &kEmpty;
    return f;
  }
  if (mode == Mode::Map) {
    void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (p == MAP_FAILED) fail_input("{}: cannot map {} bytes: {}", path, f->size_, std::strerror(errno));
    f->data_ = static_cast<const uint8_t*>(p);
    f->mapped_ = true;
    return f;
  }
  try {
    f->buffer_.reset(new uint8_t[f->size_]);
  } catch (const std::bad_alloc&) {
    ::close(fd);
    fail_input("{}: {} bytes do not fit in memory with memory mapping disabled", path, f->size_);
  }
  uint64_t done = 0;
  while (done < f->size_) {
    ssize_t r = ::read(fd, f->buffer_.get() + done, f->size_ - done);
    if (r <= 0) {
      ::close(fd);
      fail_input("{}: read failed at byte {}: {}", path, done, r == 0 ? "unexpected end" : std::strerror(errno));
    }
    done += uint64_t(r);
  }
  ::close(fd);
  f->data_ = f->buffer_.get();
  return f;
}

MappedFile::~MappedFile() {
  if (mapped_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

std::string read_text_file(const std::string& path) {
  // Through MappedFile::open so a directory or a FIFO is refused by name instead of reading as an
  // empty file (a directory) or blocking forever (a FIFO with no writer).
  const auto f = MappedFile::open(path, MappedFile::Mode::Read);
  return std::string(reinterpret_cast<const char*>(f->data()), f->size());
}

bool file_starts_with(const std::string& path, std::string_view magic) {
  struct stat st {};
  const int fd = open_regular(path, st);
  std::string head(magic.size(), '\0');
  const ssize_t n = ::pread(fd, head.data(), head.size(), 0);
  ::close(fd);
  return n == ssize_t(head.size()) && head == magic;
}

void release_resident_pages(const void* p, uint64_t n) {
#ifdef MADV_PAGEOUT
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(p) + page - 1) / page * page, end = (uintptr_t(p) + n) / page * page;
  if (end > begin) (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_PAGEOUT);  // advice only
#else
  (void)p;
  (void)n;
#endif
}

}  // namespace quantscope
