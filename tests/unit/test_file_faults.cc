// Files that are not what they claim (FIFOs, directories, models larger than memory) and writes that
// fail part-way (file size limit): a clear error, no hang, nothing partial left behind.
// Found by scripts/make_robustness_table.py (docs/results/robustness.md).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/file_io.h"
#include "core/mapped_file.h"
#include "test_util.h"

namespace quantscope {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Runs `fn` on another thread and waits at most 10 s. A reader stuck opening the FIFO is released by
// opening it for writing, so a regression fails this test instead of hanging the suite.
std::string error_within_10s(const std::string& fifo, const std::function<void()>& fn) {
  auto result = std::async(std::launch::async, [&] { return error_of(fn); });
  if (result.wait_for(std::chrono::seconds(10)) == std::future_status::timeout) {
    const int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    result.wait();
    if (w >= 0) ::close(w);
    return "(blocked on the FIFO)";
  }
  return result.get();
}

TEST(FileFaults, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  const std::string fifo = dir.file("model.bin");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(error_within_10s(fifo, [&] { MappedFile::open(fifo); }), fifo + ": not a regular file");
  EXPECT_EQ(error_within_10s(fifo, [&] { read_text_file(fifo); }), fifo + ": not a regular file");
  EXPECT_EQ(error_within_10s(fifo, [&] { file_starts_with(fifo, "GGUF"); }), fifo + ": not a regular file");
}

TEST(FileFaults, DirectoryIsNotReadAsAnEmptyTextFile) {
  TempDir dir;
  const std::string d = dir.file("recipe.json");
  fs::create_directory(d);
  EXPECT_EQ(error_of([&] { read_text_file(d); }), d + ": not a regular file");
}

TEST(FileFaults, FileStartsWithReadsOnlyTheMagic) {
  TempDir dir;
  std::ofstream(dir.file("a.gguf")) << "GGUF and more";
  std::ofstream(dir.file("short")) << "GG";
  EXPECT_TRUE(file_starts_with(dir.file("a.gguf"), "GGUF"));
  EXPECT_FALSE(file_starts_with(dir.file("a.gguf"), "GGUX"));
  EXPECT_FALSE(file_starts_with(dir.file("short"), "GGUF"));
  EXPECT_NE(error_of([&] { file_starts_with(dir.file("missing"), "GGUF"); }).find("cannot open"), std::string::npos);
}

// In a child process (the limit and the signal disposition must not leak into the test runner):
// write 1 MiB through AtomicFile under a 4 KiB file size limit. Exit 3 = InternalError, as a disk
// fault should be; 4 = InputError; 5 = anything else; 0 = the write "succeeded".
int atomic_write_under_fsize_limit(const std::string& path) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const rlimit lim{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    std::signal(SIGXFSZ, SIG_IGN);  // as main() does: EFBIG instead of being killed
    try {
      AtomicFile f(path);
      const std::vector<char> mib(static_cast<size_t>(1 << 20), 'x');
      f.write(mib.data(), mib.size());
      f.commit();
      ::_exit(0);
    } catch (const InternalError&) {
      ::_exit(3);
    } catch (const InputError&) {
      ::_exit(4);
    } catch (...) {
      ::_exit(5);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(FileFaults, FailedWriteIsAnEnvironmentFaultAndLeavesNoFile) {
  TempDir dir;
  EXPECT_EQ(atomic_write_under_fsize_limit(dir.file("out.bin")), 3);
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir.path())) left.push_back(e.path().filename().string());
  EXPECT_TRUE(left.empty()) << "left behind: " << left.front();
}

// The CLI under `ulimit -f`: exit 1 with the file named, and no temporary file left in the output
// directory (SIGXFSZ used to kill the process before AtomicFile could remove it).
TEST(FileFaults, QuantizeUnderFileSizeLimitExitsOneAndLeavesNothingPartial) {
  TempDir dir;
  std::ofstream(dir.file("r.json")) << R"({"default": {"method": "rtn", "w_bits": 4}})";
  const std::string cmd = "ulimit -f 64; " + std::string(QUANTSCOPE_CLI) + " quantize " + test::data_path("stories260K.bin") +
                          " --recipe " + dir.file("r.json") + " --out " + dir.file("q") + " >/dev/null 2>" +
                          dir.file("err");
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 1);
  std::ifstream err(dir.file("err"));
  const std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("model.safetensors: write failed"), std::string::npos) << text;
  if (fs::exists(dir.file("q")))
    for (const auto& e : fs::directory_iterator(dir.file("q"))) ADD_FAILURE() << "left behind: " << e.path().filename().string();
}

#if defined(__SANITIZE_ADDRESS__)
#define QS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QS_UNDER_ASAN 1
#endif
#endif

// A llama2.c header for ~3.5 GB of weights in a sparse file (no disk used), loaded with mapping
// disabled under a 2 GiB address-space limit: the message must say it does not fit in memory. The
// format sniff used to map the whole file first and fail with "cannot map".
TEST(FileFaults, ModelLargerThanMemoryWithMmapDisabled) {
#ifdef QS_UNDER_ASAN
  GTEST_SKIP() << "AddressSanitizer reserves more address space than the limit this test sets";
#else
  TempDir dir;
  const int D = 2048, F = 5632, L = 16, H = 16, V = 32000, S = 256;
  const int64_t floats = int64_t(V) * D + int64_t(L) * (2 * D + 4 * int64_t(D) * D + 3 * int64_t(F) * D) + D +
                         int64_t(S) * (D / H / 2) * 2;
  {
    std::ofstream f(dir.file("big.bin"), std::ios::binary);
    const int32_t header[7] = {D, F, L, H, H, V, S};
    f.write(reinterpret_cast<const char*>(header), sizeof header);
  }
  fs::resize_file(dir.file("big.bin"), static_cast<uintmax_t>(28 + 4 * floats));
  const std::string cmd = "ulimit -v 2097152; QUANTSCOPE_NO_MMAP=1 " + std::string(QUANTSCOPE_CLI) + " info " +
                          dir.file("big.bin") + " >/dev/null 2>" + dir.file("err");
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  std::ifstream err(dir.file("err"));
  const std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("do not fit in memory with memory mapping disabled"), std::string::npos) << text;
#endif
}

}  // namespace
}  // namespace quantscope
