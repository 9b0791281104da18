// Handcrafted corrupt llama2.c checkpoints: one file per failure mode, each a clear message
// naming the file and the byte offset or field, and exit code 2 from the CLI.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <functional>
#include <vector>

#include "core/error.h"
#include "model/model.h"
#include "test_util.h"

namespace quantscope {
namespace {

std::vector<char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_all(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

struct Case {
  const char* name;
  std::function<void(std::vector<char>&)> corrupt;
  const char* expect;  // substring of the message
};

TEST(BadInputLlama2c, EachFailureModeIsAClearInputError) {
  const std::vector<char> good = read_all(test::data_path("stories260K.bin"));
  auto set_int = [](std::vector<char>& b, size_t index, int32_t v) { std::memcpy(&b[index * 4], &v, 4); };
  const std::vector<Case> cases = {
      {"truncated_header", [](auto& b) { b.resize(12); }, "byte 12"},
      {"truncated_weights", [](auto& b) { b.resize(b.size() - 100); }, "(truncated)"},
      {"trailing_bytes", [](auto& b) { b.insert(b.end(), 8, 0); }, "(trailing bytes)"},
      {"zero_dim", [&](auto& b) { set_int(b, 0, 0); }, "'dim'"},
      {"heads_not_dividing", [&](auto& b) { set_int(b, 3, 7); }, "'n_heads'"},
      {"kv_heads_not_dividing", [&](auto& b) { set_int(b, 4, 3); }, "'n_kv_heads'"},
      {"huge_layers", [&](auto& b) { set_int(b, 2, 1 << 30); }, "'n_layers'"},
      {"zero_vocab", [&](auto& b) { set_int(b, 5, 0); }, "'vocab_size'"},
      {"nan_weight", [](auto& b) {
         const float nan = std::nanf("");
         std::memcpy(&b[28 + 4 * 1000], &nan, 4);  // element 1000 of the token embedding
       }, "non-finite"},
      {"v1_bad_version", [](auto& b) {
         const uint32_t magic = 0x616b3432;
         const int32_t version = 7;
         std::vector<char> h(256, 0);
         std::memcpy(&h[0], &magic, 4);
         std::memcpy(&h[4], &version, 4);
         b.insert(b.begin(), h.begin(), h.end());
       }, "byte 4"},
  };
  test::TempDir tmp;
  for (const auto& c : cases) {
    std::vector<char> bytes = good;
    c.corrupt(bytes);
    const std::string path = tmp.file(std::string(c.name) + ".bin");
    write_all(path, bytes);
    try {
      load_model(path);
      ADD_FAILURE() << c.name << ": no error";
    } catch (const InputError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << c.name << ": " << msg;
      EXPECT_NE(msg.find(c.expect), std::string::npos) << c.name << ": " << msg;
    }
    const auto r = test::run_cli("info " + path);
    EXPECT_EQ(r.exit_code, 2) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find("quantscope: error: "), std::string::npos) << c.name;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.name << ": one line expected: " << r.err;
  }
}

TEST(BadInputLlama2c, NanReportNamesTensorAndPosition) {
  std::vector<char> bytes = read_all(test::data_path("stories260K.bin"));
  const float inf = INFINITY;
  // wq of layer 0 starts after the embedding (512*64) and rms_att (5*64); element 70 = row 1, col 6
  const size_t offset = 28 + 4 * (512 * 64 + 5 * 64 + 70);
  std::memcpy(&bytes[offset], &inf, 4);
  test::TempDir tmp;
  write_all(tmp.file("inf.bin"), bytes);
  try {
    load_model(tmp.file("inf.bin"));
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("model.layers.0.self_attn.q_proj.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("row 1, column 6"), std::string::npos) << msg;
    EXPECT_NE(msg.find("element 70"), std::string::npos) << msg;
  }
}

TEST(BadInputLlama2c, MissingFileAndDirectory) {
  EXPECT_EQ(test::run_cli("info /nonexistent/model.bin").exit_code, 2);
  const auto r = test::run_cli("ppl " + test::data_path("stories260K.bin") + " --tokenizer " + test::data_path("tok512.bin") +
                               " --text /nonexistent.txt");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent.txt"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace quantscope
