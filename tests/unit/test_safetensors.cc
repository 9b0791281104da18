// safetensors reader/writer: round trips (single file, sharded, chunked fills) and one handcrafted
// corrupt file per failure mode, each checked for an InputError naming the file and the offset/field.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>

#include "core/error.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"
#include "test_util.h"

namespace quantscope {
namespace {

using test::TempDir;

// The InputError message `f` throws (a test failure if it throws nothing or something else).
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing thrown";
  return "";
}

// A safetensors file from raw parts: the u64 header length, the header text, the data bytes.
void write_raw(const std::string& path, const std::string& header, const std::string& data,
               std::optional<uint64_t> header_len = std::nullopt) {
  std::ofstream out(path, std::ios::binary);
  uint64_t n = header_len.value_or(header.size());
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A tensor of `dtype` whose byte k is (seed + 7k) mod 256: every byte position is checkable.
struct Sample {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

Sample sample(std::string name, DType dtype, std::vector<int64_t> shape, int seed) {
  Sample s{std::move(name), dtype, std::move(shape), {}};
  int64_t n = 1;
  for (int64_t d : s.shape) n *= d;
  s.bytes.resize(size_t(n) * dtype_size(dtype));
  for (size_t k = 0; k < s.bytes.size(); ++k) s.bytes[k] = char((seed + 7 * k) & 0xff);
  return s;
}

TensorToWrite to_write(const Sample& s) {
  TensorToWrite t;
  t.name = s.name;
  t.dtype = s.dtype;
  t.shape = s.shape;
  const uint64_t row_bytes = t.row_bytes();
  const Sample* p = &s;
  t.fill = [p, row_bytes](int64_t row0, int64_t nrows, void* dst) {
    std::memcpy(dst, p->bytes.data() + row0 * row_bytes, nrows * row_bytes);
  };
  return t;
}

std::vector<Sample> all_dtypes() {
  std::vector<Sample> v;
  v.push_back(sample("a.f32", DType::F32, {3, 5}, 1));
  v.push_back(sample("b.f16", DType::F16, {7}, 2));
  v.push_back(sample("c.bf16", DType::BF16, {2, 3, 4}, 3));
  v.push_back(sample("d.i8", DType::I8, {9, 3}, 4));  // 27 bytes: misaligns what follows
  v.push_back(sample("e.i32", DType::I32, {4, 2}, 5));
  v.push_back(sample("f.empty", DType::F32, {0, 4}, 6));
  v.push_back(sample("g.scalar", DType::F32, {}, 7));
  return v;
}

void expect_matches(const TensorSet& set, const std::vector<Sample>& samples, const std::string& where) {
  ASSERT_EQ(set.tensors.size(), samples.size()) << where;
  for (const Sample& s : samples) {
    const TensorView* t = set.find(s.name);
    ASSERT_NE(t, nullptr) << s.name;
    EXPECT_EQ(t->dtype, s.dtype) << s.name;
    EXPECT_EQ(t->shape, s.shape) << s.name;
    ASSERT_EQ(t->nbytes(), s.bytes.size()) << s.name;
    EXPECT_EQ(std::memcmp(t->data, s.bytes.data(), s.bytes.size()), 0) << s.name;
    const std::string file = read_bytes(t->source);
    ASSERT_LE(t->source_offset + s.bytes.size(), file.size()) << s.name;
    EXPECT_EQ(file.substr(t->source_offset, s.bytes.size()), s.bytes) << s.name << ": source_offset is wrong";
  }
}

TEST(Safetensors, RoundTripAllDtypes) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  const auto samples = all_dtypes();
  std::vector<TensorToWrite> w;
  for (const Sample& s : samples) w.push_back(to_write(s));
  const SafetensorsMetadata meta = {{"format", "pt"}, {"note", "hello"}};
  const uint64_t size = write_safetensors(path, w, meta);
  EXPECT_EQ(size, read_bytes(path).size());

  SafetensorsMetadata got_meta;
  TensorSet set = read_safetensors_file(path, &got_meta);
  expect_matches(set, samples, path);
  EXPECT_EQ(got_meta, meta);
  EXPECT_EQ(set.find("a.f32")->source, path);

  // The header is padded with spaces to 8 bytes, so the data area starts 8-aligned.
  const std::string bytes = read_bytes(path);
  uint64_t header_len;
  std::memcpy(&header_len, bytes.data(), 8);
  EXPECT_EQ(header_len % 8, 0u);
  EXPECT_EQ(set.find("a.f32")->source_offset, 8 + header_len);  // first tensor written first
}

TEST(Safetensors, ChunkedFillCoversEveryRow) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  const auto samples = all_dtypes();
  std::vector<TensorToWrite> w;
  int calls = 0;
  for (const Sample& s : samples) {
    TensorToWrite t = to_write(s);
    auto inner = t.fill;
    t.fill = [inner, &calls](int64_t r, int64_t n, void* dst) {
      ++calls;
      inner(r, n, dst);
    };
    w.push_back(std::move(t));
  }
  write_safetensors(path, w, {}, /*chunk_bytes=*/8);  // one or two rows per call
  EXPECT_GT(calls, 10);
  expect_matches(read_safetensors_file(path), samples, path);
}

TEST(Safetensors, WholeTensorFillRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  const auto samples = all_dtypes();
  std::vector<TensorToWrite> w;
  for (const Sample& s : samples) {
    const Sample* p = &s;
    w.push_back(whole_tensor_to_write(s.name, s.dtype, s.shape,
                                      [p](void* dst) { std::memcpy(dst, p->bytes.data(), p->bytes.size()); }));
  }
  write_safetensors(path, w, {}, /*chunk_bytes=*/8);
  expect_matches(read_safetensors_file(path), samples, path);
}

TEST(Safetensors, FromTensorViewsRoundTrip) {
  TempDir dir;
  const auto samples = all_dtypes();
  std::vector<TensorToWrite> w;
  for (const Sample& s : samples) w.push_back(to_write(s));
  write_safetensors(dir.file("a.safetensors"), w);
  TensorSet a = read_safetensors_file(dir.file("a.safetensors"));
  write_safetensors(dir.file("b.safetensors"), tensors_to_write(a));
  expect_matches(read_safetensors_file(dir.file("b.safetensors")), samples, "copy");
}

TEST(Safetensors, ShardedRoundTripWithIndex) {
  TempDir dir;
  auto samples = all_dtypes();
  samples.push_back(sample("h.big", DType::F32, {64}, 8));  // 256 bytes > shard limit: a shard of its own
  std::vector<TensorToWrite> w;
  for (const Sample& s : samples) w.push_back(to_write(s));
  uint64_t total = 0;
  for (const Sample& s : samples) total += s.bytes.size();

  SafetensorsWriteResult r = write_safetensors_sharded(dir.path(), w, {{"format", "pt"}}, 80);
  EXPECT_EQ(r.tensor_bytes, total);
  ASSERT_GE(r.files.size(), 3u);
  EXPECT_EQ(r.files.back(), dir.file("model.safetensors.index.json"));
  const size_t shards = r.files.size() - 1;
  EXPECT_EQ(r.files.front(), dir.file(fmt::format("model-00001-of-{:05d}.safetensors", shards)));
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors")));

  const auto index = nlohmann::json::parse(read_bytes(dir.file("model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), total);
  EXPECT_EQ(index["weight_map"].size(), samples.size());

  SafetensorsMetadata meta;
  TensorSet set = read_safetensors_dir(dir.path(), &meta);
  expect_matches(set, samples, dir.path());
  EXPECT_EQ(meta.at("format"), "pt");
  EXPECT_NE(set.find("a.f32")->source, set.find("h.big")->source);
}

TEST(Safetensors, SingleShardWritesModelSafetensors) {
  TempDir dir;
  const auto samples = all_dtypes();
  std::vector<TensorToWrite> w;
  for (const Sample& s : samples) w.push_back(to_write(s));
  SafetensorsWriteResult r = write_safetensors_sharded(dir.path(), w, {}, 1 << 20);
  ASSERT_EQ(r.files.size(), 1u);
  EXPECT_EQ(r.files[0], dir.file("model.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors.index.json")));
  expect_matches(read_safetensors_dir(dir.path()), samples, dir.path());
}

// ---- corrupt files: one per failure mode ----

TEST(Safetensors, TruncatedHeaderLength) {
  TempDir dir;
  const std::string path = dir.file("trunc.safetensors");
  std::ofstream(path, std::ios::binary) << "abcde";
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 0"), std::string::npos) << msg;
}

TEST(Safetensors, HeaderLengthPastEnd) {
  TempDir dir;
  const std::string path = dir.file("past.safetensors");
  write_raw(path, "{}", "", 1000);
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1000"), std::string::npos) << msg;
}

TEST(Safetensors, HeaderLengthOverCap) {
  TempDir dir;
  const std::string path = dir.file("cap.safetensors");
  write_raw(path, "{}", "", uint64_t(1) << 40);
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("limit"), std::string::npos) << msg;
}

TEST(Safetensors, InvalidJsonNamesByteOffset) {
  TempDir dir;
  const std::string path = dir.file("json.safetensors");
  write_raw(path, R"({"a": })", "");  // the '}' at header index 6 is file byte 14
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte 14"), std::string::npos) << msg;
}

TEST(Safetensors, HeaderNotAnObject) {
  TempDir dir;
  const std::string path = dir.file("arr.safetensors");
  write_raw(path, "[1, 2]  ", "");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("object"), std::string::npos) << msg;
}

TEST(Safetensors, UnknownDtype) {
  TempDir dir;
  const std::string path = dir.file("dtype.safetensors");
  write_raw(path, R"({"w": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}})", "ab");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'dtype'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("F8_E4M3"), std::string::npos) << msg;
}

TEST(Safetensors, DataOffsetsPastEnd) {
  TempDir dir;
  const std::string path = dir.file("offs.safetensors");
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", "12345678");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("data_offsets"), std::string::npos) << msg;
  EXPECT_NE(msg.find("past the end"), std::string::npos) << msg;
}

TEST(Safetensors, DataOffsetsReversed) {
  TempDir dir;
  const std::string path = dir.file("rev.safetensors");
  write_raw(path, R"({"w": {"dtype": "I8", "shape": [0], "data_offsets": [4, 0]}})", "1234");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("data_offsets"), std::string::npos) << msg;
}

TEST(Safetensors, SizeMismatchBetweenShapeAndOffsets) {
  TempDir dir;
  const std::string path = dir.file("size.safetensors");
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", "12345678");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs 12"), std::string::npos) << msg;
}

TEST(Safetensors, OverlappingTensors) {
  TempDir dir;
  const std::string path = dir.file("overlap.safetensors");
  const std::string header = R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                             R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})";
  write_raw(path, header, "123456789012");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'a'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'b'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("overlap"), std::string::npos) << msg;
  // b's data starts at data-area offset 4, file byte 8 + header length + 4.
  EXPECT_NE(msg.find(fmt::format("byte {}", 8 + header.size() + 4)), std::string::npos) << msg;
}

TEST(Safetensors, NegativeDimension) {
  TempDir dir;
  const std::string path = dir.file("neg.safetensors");
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [-1, 2], "data_offsets": [0, 0]}})", "");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'shape'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("negative"), std::string::npos) << msg;
}

TEST(Safetensors, NonIntegerDimension) {
  TempDir dir;
  const std::string path = dir.file("float.safetensors");
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}})", "1234");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'shape'"), std::string::npos) << msg;
}

TEST(Safetensors, UnknownEntryKey) {
  TempDir dir;
  const std::string path = dir.file("key.safetensors");
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "stride": [1]}})", "1234");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'stride'"), std::string::npos) << msg;
}

TEST(Safetensors, MissingEntryField) {
  TempDir dir;
  const std::string path = dir.file("missing.safetensors");
  write_raw(path, R"({"w": {"dtype": "F32", "shape": [1]}})", "1234");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'data_offsets'"), std::string::npos) << msg;
}

TEST(Safetensors, DuplicateTensorName) {
  TempDir dir;
  const std::string path = dir.file("dup.safetensors");
  write_raw(path,
            R"({"w": {"dtype": "I8", "shape": [1], "data_offsets": [0, 1]},)"
            R"( "w": {"dtype": "I8", "shape": [1], "data_offsets": [1, 2]}})",
            "12");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'w'"), std::string::npos) << msg;
}

TEST(Safetensors, MetadataMustBeStrings) {
  TempDir dir;
  const std::string path = dir.file("meta.safetensors");
  write_raw(path, R"({"__metadata__": {"format": 1}})", "");
  const std::string msg = input_error([&] { read_safetensors_file(path); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("__metadata__.format"), std::string::npos) << msg;
}

// Random byte flips and truncations of a valid file either still load or throw InputError: never a
// crash, an out-of-bounds view or another exception type (run under ASan to see the difference).
TEST(Safetensors, RandomCorruptionsOnlyThrowInputError) {
  TempDir dir;
  const std::string good = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  const auto samples = all_dtypes();
  std::vector<TensorToWrite> w;
  for (const Sample& s : samples) w.push_back(to_write(s));
  write_safetensors(good, w, {{"format", "pt"}});
  const std::string bytes = read_bytes(good);
  uint64_t state = 12345;
  auto next = [&state] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return state >> 33;
  };
  int loaded = 0, rejected = 0;
  for (int iter = 0; iter < 600; ++iter) {
    std::string b = bytes;
    if (iter % 3 == 0) {
      b.resize(next() % b.size());
    } else {
      for (int k = 0, n = 1 + int(next() % 3); k < n; ++k) b[next() % b.size()] = char(next() & 0xff);
    }
    std::ofstream(bad, std::ios::binary | std::ios::trunc) << b;
    try {
      TensorSet set = read_safetensors_file(bad);
      for (const auto& [name, t] : set.tensors) {
        ASSERT_GE(t.source_offset, 8u);
        ASSERT_LE(t.source_offset + t.nbytes(), b.size()) << name;
      }
      ++loaded;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 100);
  EXPECT_GT(loaded, 0);  // flips inside the data area are not detectable and must load
}

// ---- sharded directories ----

// Writes a two-shard checkpoint (a, b in shard 1; c in shard 2) and returns the index path.
std::string write_two_shards(const TempDir& dir, const nlohmann::json& weight_map) {
  auto a = sample("a", DType::F32, {2}, 1), b = sample("b", DType::F32, {2}, 2), c = sample("c", DType::I8, {3}, 3);
  write_safetensors(dir.file("model-00001-of-00002.safetensors"), {to_write(a), to_write(b)});
  write_safetensors(dir.file("model-00002-of-00002.safetensors"), {to_write(c)});
  const std::string index = dir.file("model.safetensors.index.json");
  std::ofstream(index) << nlohmann::json{{"metadata", {{"total_size", 19}}}, {"weight_map", weight_map}}.dump();
  return index;
}

const nlohmann::json kGoodMap = {{"a", "model-00001-of-00002.safetensors"},
                                 {"b", "model-00001-of-00002.safetensors"},
                                 {"c", "model-00002-of-00002.safetensors"}};

TEST(Safetensors, HandWrittenIndexLoads) {
  TempDir dir;
  write_two_shards(dir, kGoodMap);
  TensorSet set = read_safetensors_dir(dir.path());
  EXPECT_EQ(set.tensors.size(), 3u);
  EXPECT_EQ(set.find("c")->source, dir.file("model-00002-of-00002.safetensors"));
}

TEST(Safetensors, IndexReferencesMissingShard) {
  TempDir dir;
  nlohmann::json map = kGoodMap;
  map["d"] = "model-00003-of-00003.safetensors";
  const std::string index = write_two_shards(dir, map);
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(index), std::string::npos) << msg;
  EXPECT_NE(msg.find("'d'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("model-00003-of-00003.safetensors"), std::string::npos) << msg;
}

TEST(Safetensors, IndexTensorMissingFromItsShard) {
  TempDir dir;
  nlohmann::json map = kGoodMap;
  map["d"] = "model-00002-of-00002.safetensors";
  const std::string index = write_two_shards(dir, map);
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(index), std::string::npos) << msg;
  EXPECT_NE(msg.find("'d'"), std::string::npos) << msg;
}

TEST(Safetensors, ShardTensorMissingFromIndex) {
  TempDir dir;
  nlohmann::json map = kGoodMap;
  map.erase("b");
  const std::string index = write_two_shards(dir, map);
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(index), std::string::npos) << msg;
  EXPECT_NE(msg.find("'b'"), std::string::npos) << msg;
}

TEST(Safetensors, ShardTensorInWrongShard) {
  TempDir dir;
  nlohmann::json map = kGoodMap;
  map["c"] = "model-00001-of-00002.safetensors";
  const std::string index = write_two_shards(dir, map);
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(index), std::string::npos) << msg;
  EXPECT_NE(msg.find("'c'"), std::string::npos) << msg;
}

TEST(Safetensors, IndexShardOutsideDirectory) {
  TempDir dir;
  nlohmann::json map = kGoodMap;
  map["a"] = "../model-00001-of-00002.safetensors";
  const std::string index = write_two_shards(dir, map);
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(index), std::string::npos) << msg;
  EXPECT_NE(msg.find("weight_map.a"), std::string::npos) << msg;
}

TEST(Safetensors, IndexWithoutWeightMap) {
  TempDir dir;
  const std::string index = dir.file("model.safetensors.index.json");
  std::ofstream(index) << R"({"metadata": {}})";
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(index), std::string::npos) << msg;
  EXPECT_NE(msg.find("'weight_map'"), std::string::npos) << msg;
}

TEST(Safetensors, IndexInvalidJsonNamesByte) {
  TempDir dir;
  const std::string index = dir.file("model.safetensors.index.json");
  std::ofstream(index) << R"({"weight_map": [)";
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(index), std::string::npos) << msg;
  EXPECT_NE(msg.find("byte "), std::string::npos) << msg;
}

TEST(Safetensors, DirectoryWithBothLayoutsIsAmbiguous) {
  TempDir dir;
  write_two_shards(dir, kGoodMap);
  write_safetensors(dir.file("model.safetensors"), {to_write(sample("x", DType::I8, {1}, 1))});
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(dir.path()), std::string::npos) << msg;
}

TEST(Safetensors, EmptyDirectory) {
  TempDir dir;
  EXPECT_FALSE(has_safetensors(dir.path()));
  const std::string msg = input_error([&] { read_safetensors_dir(dir.path()); });
  EXPECT_NE(msg.find(dir.path()), std::string::npos) << msg;
}

}  // namespace
}  // namespace quantscope
