// GGUF format layer: ggml block quantizers (hand-computed cases), writer -> reader round trips of
// every metadata and tensor type, and one handcrafted corrupt file per validation rule.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

#include "core/dtype.h"
#include "core/error.h"
#include "formats/ggml_blocks.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "test_util.h"

namespace quantscope {
namespace {

BlockQ8_0 q8_block(const float* x) {
  BlockQ8_0 b;
  quantize_row_q8_0_ref(x, &b, 32);
  return b;
}
BlockQ4_0 q4_0_block(const float* x) {
  BlockQ4_0 b;
  quantize_row_q4_0_ref(x, &b, 32);
  return b;
}
BlockQ4_1 q4_1_block(const float* x) {
  BlockQ4_1 b;
  quantize_row_q4_1_ref(x, &b, 32);
  return b;
}
// Code of element j of a Q4 block (low nibbles hold elements 0..15, high nibbles 16..31).
int nibble(const uint8_t* qs, int j) { return j < 16 ? (qs[j] & 0x0f) : (qs[j - 16] >> 4); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Block formats

TEST(GgufBlocks, TraitsTable) {
  const GgmlTypeTraits* q8 = find_ggml_type(8);
  ASSERT_NE(q8, nullptr);
  EXPECT_EQ(q8->type, GgmlType::Q8_0);
  EXPECT_EQ(q8->name, "q8_0");
  EXPECT_EQ(q8->block_size, 32);
  EXPECT_EQ(q8->type_size, 34u);
  EXPECT_EQ(ggml_traits(GgmlType::Q4_0).type_size, 18u);
  EXPECT_EQ(ggml_traits(GgmlType::Q4_1).type_size, 20u);
  EXPECT_EQ(ggml_traits(GgmlType::BF16).type_size, 2u);
  EXPECT_EQ(uint32_t(GgmlType::BF16), 30u);
  EXPECT_EQ(find_ggml_type(12), nullptr);  // q4_K: known to ggml, not supported here
  EXPECT_EQ(ggml_type_name(12), "q4_K");
  EXPECT_EQ(ggml_type_name(4), "unknown");  // removed q4_2
  EXPECT_EQ(ggml_type_name(1000), "unknown");
  EXPECT_EQ(ggml_row_size(GgmlType::Q4_1, 96), 60u);
  EXPECT_EQ(ggml_row_size(GgmlType::F16, 7), 14u);
}

TEST(GgufBlocks, Q8_0AmaxOf127GivesUnitScaleAndExactCodes) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = float(j - 16);
  x[0] = 127.0f;
  x[1] = -127.0f;
  x[2] = 2.5f;    // tie: half away from zero -> 3
  x[3] = -2.5f;   // -> -3
  x[4] = 0.5f;    // -> 1
  x[5] = -0.5f;   // -> -1
  x[6] = 1.49f;   // -> 1
  x[7] = 100.4f;  // -> 100
  const BlockQ8_0 b = q8_block(x);
  EXPECT_EQ(b.d, 0x3c00);  // fp16 1.0
  const int expect[8] = {127, -127, 3, -3, 1, -1, 1, 100};
  for (int j = 0; j < 8; ++j) EXPECT_EQ(b.qs[j], expect[j]) << j;
  for (int j = 8; j < 32; ++j) EXPECT_EQ(b.qs[j], j - 16) << j;
  float y[32];
  dequantize_row_q8_0(&b, y, 32);
  for (int j = 0; j < 8; ++j) EXPECT_EQ(y[j], float(expect[j]));
  for (int j = 8; j < 32; ++j) EXPECT_EQ(y[j], float(j - 16));
}

TEST(GgufBlocks, Q8_0ScaleIsAmaxOver127RoundedToHalf) {
  float x[32] = {};
  x[9] = -254.0f;  // amax 254 -> d = 2 exactly
  x[10] = 3.0f;    // 3/2 = 1.5 -> 2 (away from zero)
  x[11] = -1.0f;   // -0.5 -> -1
  const BlockQ8_0 b = q8_block(x);
  EXPECT_EQ(b.d, 0x4000);  // fp16 2.0
  EXPECT_EQ(b.qs[9], -127);
  EXPECT_EQ(b.qs[10], 2);
  EXPECT_EQ(b.qs[11], -1);
  EXPECT_EQ(b.qs[0], 0);
}

TEST(GgufBlocks, AllZeroBlocksGiveZerosWithoutDividingByZero) {
  const float x[32] = {};
  float y[32];
  const BlockQ8_0 b8 = q8_block(x);
  EXPECT_EQ(b8.d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(b8.qs[j], 0);
  dequantize_row_q8_0(&b8, y, 32);
  for (float v : y) EXPECT_EQ(v, 0.0f);

  const BlockQ4_0 b40 = q4_0_block(x);
  EXPECT_EQ(b40.d, 0x8000);  // d = 0 / -8 = -0.0, as in the reference
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b40.qs[j], 0x88);  // 0 * 0 + 8.5 truncates to code 8
  dequantize_row_q4_0(&b40, y, 32);
  for (float v : y) EXPECT_EQ(v, 0.0f);

  const BlockQ4_1 b41 = q4_1_block(x);
  EXPECT_EQ(b41.d, 0);
  EXPECT_EQ(b41.m, 0);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(b41.qs[j], 0);
  dequantize_row_q4_1(&b41, y, 32);
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(GgufBlocks, Q4_0NegativeMaxHandCase) {
  // Largest magnitude is -8, so d = -8 / -8 = 1 and code = min(15, trunc(x + 8.5)).
  float x[32] = {};
  x[0] = -8.0f;   // 0.5 -> 0 -> value -8
  x[16] = 7.0f;   // 15.5 -> 15 -> 7
  x[1] = 0.5f;    // 9.0 -> 9 -> 1 (ties go up)
  x[17] = -0.5f;  // 8.0 -> 8 -> 0
  x[2] = 2.4f;    // 10.9 -> 10 -> 2
  x[18] = 7.9f;   // 16.4 -> 16, clamped to 15 -> 7
  x[3] = -7.6f;   // 0.9 -> 0 -> -8
  const BlockQ4_0 b = q4_0_block(x);
  EXPECT_EQ(b.d, 0x3c00);
  EXPECT_EQ(b.qs[0], 0xf0);  // element 0 low nibble 0, element 16 high nibble 15
  const int expect_code[32] = {0, 9, 10, 0, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
                               15, 8, 15, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8};
  for (int j = 0; j < 32; ++j) EXPECT_EQ(nibble(b.qs, j), expect_code[j]) << j;
  float y[32];
  dequantize_row_q4_0(&b, y, 32);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], float(expect_code[j] - 8)) << j;
}

TEST(GgufBlocks, Q4_0PositiveMaxKeepsSign) {
  // Largest magnitude is +8 (first of the tie with -8 at index 5), so d = 8 / -8 = -1: +8 maps to code 0.
  float x[32] = {};
  x[4] = 8.0f;    // -8 + 8.5 -> 0 -> (0-8) * -1 = 8
  x[5] = -8.0f;   // 16.5 -> 16 -> 15 -> -7 (the clamped side)
  x[20] = -7.0f;  // 15.5 -> 15 -> -7
  x[21] = 1.0f;   // 7.5 -> 7 -> 1
  const BlockQ4_0 b = q4_0_block(x);
  EXPECT_EQ(b.d, 0xbc00);  // fp16 -1.0
  EXPECT_EQ(nibble(b.qs, 4), 0);
  EXPECT_EQ(nibble(b.qs, 5), 15);
  EXPECT_EQ(nibble(b.qs, 20), 15);
  EXPECT_EQ(nibble(b.qs, 21), 7);
  float y[32];
  dequantize_row_q4_0(&b, y, 32);
  EXPECT_EQ(y[4], 8.0f);
  EXPECT_EQ(y[5], -7.0f);
  EXPECT_EQ(y[20], -7.0f);
  EXPECT_EQ(y[21], 1.0f);
  EXPECT_EQ(y[0], 0.0f);  // 0 -> 8.5 -> code 8 -> 0
}

TEST(GgufBlocks, Q4_1HandCase) {
  // min -1, max 14: d = 15 / 15 = 1, m = -1, code = min(15, trunc(x + 1 + 0.5)).
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = 0.0f;  // code 1 -> value 0
  x[0] = -1.0f;   // 0.5 -> 0 -> -1
  x[17] = 14.0f;  // 15.5 -> 15 -> 14
  x[1] = 0.5f;    // 2.0 -> 2 -> 1 (ties go up)
  x[18] = 3.2f;   // 4.7 -> 4 -> 3
  const BlockQ4_1 b = q4_1_block(x);
  EXPECT_EQ(b.d, 0x3c00);
  EXPECT_EQ(b.m, 0xbc00);
  EXPECT_EQ(nibble(b.qs, 0), 0);
  EXPECT_EQ(nibble(b.qs, 17), 15);
  EXPECT_EQ(nibble(b.qs, 1), 2);
  EXPECT_EQ(nibble(b.qs, 18), 4);
  EXPECT_EQ(nibble(b.qs, 5), 1);
  float y[32];
  dequantize_row_q4_1(&b, y, 32);
  EXPECT_EQ(y[0], -1.0f);
  EXPECT_EQ(y[17], 14.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[18], 3.0f);
  EXPECT_EQ(y[5], 0.0f);
}

TEST(GgufBlocks, Q4_1ConstantBlockIsExact) {
  float x[32];
  for (float& v : x) v = 3.0f;  // max == min: d = 0, id = 0, every code 0, value = m
  const BlockQ4_1 b = q4_1_block(x);
  EXPECT_EQ(b.d, 0);
  EXPECT_EQ(f16_to_f32(b.m), 3.0f);
  float y[32];
  dequantize_row_q4_1(&b, y, 32);
  for (float v : y) EXPECT_EQ(v, 3.0f);
}

// Error bounds from the arithmetic: rounding to the nearest code costs d/2; storing d (and m) as
// fp16 moves every value by at most |code| * |d| * 2^-11 (+ |m| * 2^-11); Q4_0's clamped side
// (the value of opposite sign to max) can lose a full d.
TEST(GgufBlocks, RandomBlocksStayWithinTheRoundingBound) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  const int64_t n = 32 * 64;
  std::vector<float> x(n), y(n);
  for (float& v : x) v = dist(rng) * 0.05f;
  std::vector<uint8_t> buf(64 * 34);
  const float eps = std::ldexp(1.0f, -11);

  quantize_row_q8_0_ref(x.data(), buf.data(), n);
  dequantize_row_q8_0(buf.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 127;
    for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(x[b * 32 + j] - y[b * 32 + j]), d * (0.5f + 128 * eps) + 1e-9f);
  }

  quantize_row_q4_0_ref(x.data(), buf.data(), n);
  dequantize_row_q4_0(buf.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    const float d = amax / 8;
    for (int j = 0; j < 32; ++j) EXPECT_LE(std::fabs(x[b * 32 + j] - y[b * 32 + j]), d * (1.0f + 9 * eps) + 1e-9f);
  }

  quantize_row_q4_1_ref(x.data(), buf.data(), n);
  dequantize_row_q4_1(buf.data(), y.data(), n);
  for (int64_t b = 0; b < n / 32; ++b) {
    float mn = x[b * 32], mx = x[b * 32];
    for (int j = 0; j < 32; ++j) mn = std::min(mn, x[b * 32 + j]), mx = std::max(mx, x[b * 32 + j]);
    const float d = (mx - mn) / 15;
    for (int j = 0; j < 32; ++j)
      EXPECT_LE(std::fabs(x[b * 32 + j] - y[b * 32 + j]), d * (0.5f + 16 * eps) + std::fabs(mn) * eps + 1e-9f);
  }
}

TEST(GgufBlocks, FloatRowsRoundToNearestEven) {
  const float x[4] = {1.0f, -2.0f, 1.0f + std::ldexp(1.0f, -11), 3.140625f};
  uint16_t h[4];
  float y[4];
  f32_row_to_f16(x, h, 4);
  EXPECT_EQ(h[0], 0x3c00);
  EXPECT_EQ(h[1], 0xc000);
  EXPECT_EQ(h[2], 0x3c00);  // tie to even
  f16_row_to_f32(h, y, 4);
  EXPECT_EQ(y[3], 3.140625f);
  f32_row_to_bf16(x, h, 4);
  EXPECT_EQ(h[0], 0x3f80);
  EXPECT_EQ(h[3], 0x4049);
  bf16_row_to_f32(h, y, 4);
  EXPECT_EQ(y[1], -2.0f);
  EXPECT_EQ(y[3], 3.140625f);
}

// ---------------------------------------------------------------------------------------------
// Writer -> reader round trips

namespace {

std::vector<float> ramp(int64_t n, float scale) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = scale * std::sin(0.37f * float(i) + 0.1f) * float(1 + i % 7);
  return v;
}

std::vector<GgufKv> every_value_type() {
  GgufValue nested = GgufValue::array_of_arrays(
      {GgufValue::string_array({"a", "bc"}), GgufValue::string_array({}), GgufValue::string_array({"ü", ""})});
  return {
      {"t.u8", GgufValue::u8(200)},
      {"t.i8", GgufValue::i8(-100)},
      {"t.u16", GgufValue::u16(60000)},
      {"t.i16", GgufValue::i16(-30000)},
      {"t.u32", GgufValue::u32(4000000000u)},
      {"t.i32", GgufValue::i32(-2000000000)},
      {"t.f32", GgufValue::f32(3.14159f)},
      {"t.bool", GgufValue::boolean(true)},
      {"t.string", GgufValue::string("h\xc3\xa9llo\nworld")},
      {"t.u64", GgufValue::u64((uint64_t(1) << 63) + 5)},
      {"t.i64", GgufValue::i64(-(int64_t(1) << 62))},
      {"t.f64", GgufValue::f64(2.718281828459045)},
      {"t.empty", GgufValue::string("")},
      {"a.string", GgufValue::string_array({"<s>", "", "\xc3\xbc", "tok"})},
      {"a.f32", GgufValue::f32_array({0.0f, -1.5f, 1e-30f, std::numeric_limits<float>::infinity()})},
      {"a.i32", GgufValue::i32_array({1, -2, 2147483647})},
      {"a.u8", GgufValue::uint_array(GgufType::U8, {0, 255})},
      {"a.i8", GgufValue::int_array(GgufType::I8, {-128, 127})},
      {"a.u16", GgufValue::uint_array(GgufType::U16, {65535})},
      {"a.i16", GgufValue::int_array(GgufType::I16, {-32768})},
      {"a.u32", GgufValue::uint_array(GgufType::U32, {7, 8})},
      {"a.u64", GgufValue::uint_array(GgufType::U64, {~uint64_t(0)})},
      {"a.i64", GgufValue::int_array(GgufType::I64, {std::numeric_limits<int64_t>::min()})},
      {"a.f64", GgufValue::float_array(GgufType::F64, {1e300, -0.0})},
      {"a.bool", GgufValue::bool_array({true, false, true})},
      {"a.empty", GgufValue::f32_array({})},
      {"a.nested", nested},
  };
}

void expect_input_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  try {
    fn();
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& e) {
    for (const std::string& s : needles) EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(GgufRoundTrip, MetadataOfEveryType) {
  test::TempDir tmp;
  const std::string path = tmp.file("meta.gguf");
  GgufWriter w;
  for (const GgufKv& kv : every_value_type()) w.set(kv.key, kv.value);
  w.set_u32("t.u32", 4000000001u);  // replacing keeps the position
  w.write(path);

  const GgufFile g = read_gguf(path);
  EXPECT_EQ(g.version, 3u);
  EXPECT_EQ(g.alignment, 32u);
  EXPECT_TRUE(g.tensors.empty());
  const std::vector<GgufKv> expect = every_value_type();
  ASSERT_EQ(g.metadata.size(), expect.size());
  for (size_t k = 0; k < expect.size(); ++k) {
    EXPECT_EQ(g.metadata[k].key, expect[k].key);
    if (expect[k].key != "t.u32") {
      EXPECT_TRUE(g.metadata[k].value == expect[k].value) << expect[k].key;
    }
  }
  EXPECT_EQ(g.get_u32("t.u32"), 4000000001u);
  EXPECT_EQ(g.metadata[0].offset, 24u);  // the first pair follows the 24-byte header

  // Typed getters: integer getters accept any integer type whose value fits.
  EXPECT_EQ(g.get_u32("t.u8"), 200u);
  EXPECT_EQ(g.get_u32("t.u16"), 60000u);
  EXPECT_EQ(g.get_u64("t.u64"), (uint64_t(1) << 63) + 5);
  EXPECT_EQ(g.get_i64("t.i8"), -100);
  EXPECT_EQ(g.get_f32("t.f32"), 3.14159f);
  EXPECT_EQ(g.get_f32("t.f64"), float(2.718281828459045));
  EXPECT_TRUE(g.get_bool("t.bool"));
  EXPECT_EQ(g.get_string("t.string"), "h\xc3\xa9llo\nworld");
  EXPECT_EQ(g.get_string_array("a.string"), (std::vector<std::string>{"<s>", "", "\xc3\xbc", "tok"}));
  EXPECT_EQ(g.get_f32_array("a.f32")[1], -1.5f);
  EXPECT_EQ(g.get_i32_array("a.i32"), (std::vector<int32_t>{1, -2, 2147483647}));
  EXPECT_EQ(g.get_i32_array("a.u8"), (std::vector<int32_t>{0, 255}));
  EXPECT_EQ(g.find("a.nested")->value.vs[2].ss[0], "\xc3\xbc");
  EXPECT_EQ(g.get_u32_or("missing", 9u), 9u);
  EXPECT_EQ(g.get_string_or("missing", "x"), "x");
  EXPECT_FALSE(g.get_bool_or("missing", false));

  // Wrong types and missing keys name the file, the key and what was expected.
  expect_input_error([&] { g.get_string("t.u32"); }, {path, "'t.u32'", "is u32, expected string", "byte "});
  expect_input_error([&] { g.get_u32("t.i32"); }, {path, "'t.i32'", "does not fit in u32"});
  expect_input_error([&] { g.get_u32("t.u64"); }, {path, "'t.u64'", "does not fit in u32"});
  expect_input_error([&] { g.get_f32("t.string"); }, {path, "'t.string'", "expected f32"});
  expect_input_error([&] { g.get_string_array("a.f32"); }, {"is array of f32, expected array of string"});
  EXPECT_EQ(g.get_i32_array("a.u32"), (std::vector<int32_t>{7, 8}));  // unsigned elements that fit are fine
  expect_input_error([&] { g.get_i32_array("a.u64"); }, {"'a.u64'", "does not fit in i32"});
  expect_input_error([&] { g.get_i32_array("a.string"); }, {"'a.string'", "expected array of i32"});
  expect_input_error([&] { g.get_u32("absent.key"); }, {path, "'absent.key' is missing", "u32"});
  expect_input_error([&] { g.tensor("nope"); }, {path, "'nope'"});
}

TEST(GgufRoundTrip, TensorsOfEveryType) {
  test::TempDir tmp;
  const std::string path = tmp.file("tensors.gguf");
  const std::vector<float> a = ramp(64 * 3, 1.0f), b = ramp(32 * 2 * 2, 0.5f), c = ramp(32, 3.0f),
                           d = ramp(64 * 3, 0.02f), e = ramp(32 * 5, 0.1f), f = ramp(96 * 2, 7.0f);
  // Encoded copies, for the pointer variant and as the expected bytes.
  std::vector<uint8_t> q8(3 * 68), q40(5 * 18);
  EXPECT_EQ(quantize_rows_to(GgmlType::Q8_0, d.data(), 3, 64, q8.data()), q8.size());
  EXPECT_EQ(quantize_rows_to(GgmlType::Q4_0, e.data(), 5, 32, q40.data()), q40.size());

  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.add_tensor_from_f32("a.f32", GgmlType::F32, {64, 3}, a.data());
  w.add_tensor_from_f32("b.f16", GgmlType::F16, {32, 2, 2}, b.data());
  w.add_tensor_from_f32("c.bf16", GgmlType::BF16, {32}, c.data());
  w.add_tensor("d.q8_0", GgmlType::Q8_0, {64, 3}, q8.data());
  w.add_tensor("e.q4_0", GgmlType::Q4_0, {32, 5}, [&](int64_t row0, int64_t nrows, uint8_t* dst) {
    std::memcpy(dst, q40.data() + row0 * 18, nrows * 18);
  });
  w.add_tensor_from_f32("f.q4_1", GgmlType::Q4_1, {96, 2}, f.data());
  w.add_tensor("g.empty", GgmlType::F32, {0, 4}, static_cast<const void*>(nullptr));
  w.write(path);

  const GgufFile g = read_gguf(path);
  ASSERT_EQ(g.tensors.size(), 7u);
  EXPECT_EQ(g.data_offset % 32, 0u);
  uint64_t expect_offset = 0;
  for (const GgufTensor& t : g.tensors) {
    EXPECT_EQ(t.offset, expect_offset) << t.name;
    EXPECT_EQ(t.file_offset, g.data_offset + t.offset);
    EXPECT_EQ(t.source, path);
    expect_offset = (t.offset + t.nbytes + 31) / 32 * 32;
  }
  EXPECT_EQ(std::filesystem::file_size(path), g.data_offset + expect_offset);

  const GgufTensor& ta = g.tensor("a.f32");
  EXPECT_EQ(ta.type, GgmlType::F32);
  EXPECT_EQ(ta.ne, (std::vector<int64_t>{64, 3}));
  EXPECT_EQ(ta.numel, 192);
  EXPECT_EQ(ta.nbytes, 768u);
  EXPECT_EQ(ta.rows(), 3);
  EXPECT_EQ(ta.cols(), 64);
  const TensorView va = gguf_tensor_as_view(ta);
  EXPECT_EQ(va.shape, (std::vector<int64_t>{3, 64}));
  EXPECT_EQ(va.dtype, DType::F32);
  EXPECT_EQ(va.source_offset, ta.file_offset);
  EXPECT_EQ(std::memcmp(va.data, a.data(), 768), 0);

  const TensorView vb = gguf_tensor_as_view(g.tensor("b.f16"));
  EXPECT_EQ(vb.shape, (std::vector<int64_t>{2, 2, 32}));
  EXPECT_EQ(vb.dtype, DType::F16);
  for (int64_t i = 0; i < vb.numel(); ++i) EXPECT_EQ(load_float(vb, i), f16_to_f32(f32_to_f16(b[i])));
  const TensorView vc = gguf_tensor_as_view(g.tensor("c.bf16"));
  EXPECT_EQ(vc.shape, (std::vector<int64_t>{32}));
  for (int64_t i = 0; i < 32; ++i) EXPECT_EQ(load_float(vc, i), bf16_to_f32(f32_to_bf16(c[i])));

  // Quantized tensors: bytes as written, and dequantized rows equal the reference dequantizer's.
  const GgufTensor& td = g.tensor("d.q8_0");
  EXPECT_EQ(td.nbytes, q8.size());
  EXPECT_EQ(std::memcmp(td.data, q8.data(), q8.size()), 0);
  std::vector<float> rows(2 * 64), ref(2 * 64);
  gguf_dequantize_rows(td, 1, 2, rows.data());
  dequantize_row_q8_0(q8.data() + 68, ref.data(), 128);
  EXPECT_EQ(rows, ref);
  for (int i = 0; i < 128; ++i) EXPECT_NEAR(rows[i], d[64 + i], 0.02f * 7 / 127);

  const GgufTensor& te = g.tensor("e.q4_0");
  EXPECT_EQ(std::memcmp(te.data, q40.data(), q40.size()), 0);
  std::vector<float> all_e(32 * 5), ref_e(32 * 5);
  gguf_dequantize_rows(te, 0, 5, all_e.data());
  dequantize_row_q4_0(q40.data(), ref_e.data(), 160);
  EXPECT_EQ(all_e, ref_e);

  const GgufTensor& tf = g.tensor("f.q4_1");
  EXPECT_EQ(tf.nbytes, 2u * 3 * 20);
  std::vector<uint8_t> q41(120);
  quantize_row_q4_1_ref(f.data(), q41.data(), 192);
  EXPECT_EQ(std::memcmp(tf.data, q41.data(), 120), 0);
  std::vector<float> row1(96), ref1(96);
  gguf_dequantize_rows(tf, 1, 1, row1.data());
  dequantize_row_q4_1(q41.data() + 60, ref1.data(), 96);
  EXPECT_EQ(row1, ref1);

  // f32/f16/bf16 through the generic path agree with the view.
  std::vector<float> fb(2 * 32);
  gguf_dequantize_rows(g.tensor("b.f16"), 2, 2, fb.data());
  for (int i = 0; i < 64; ++i) EXPECT_EQ(fb[i], load_float(vb, 64 + i));

  const GgufTensor& tg = g.tensor("g.empty");
  EXPECT_EQ(tg.numel, 0);
  EXPECT_EQ(tg.nbytes, 0u);

  expect_input_error([&] { gguf_tensor_as_view(td); }, {path, "'d.q8_0'", "q8_0"});
  EXPECT_THROW(gguf_dequantize_rows(td, 2, 2, rows.data()), InternalError);
}

TEST(GgufRoundTrip, CustomAlignmentAndChunkedFill) {
  test::TempDir tmp;
  const std::string path = tmp.file("aligned.gguf");
  // 4096 x 1100 f16 = 8.6 MiB: more than one 8 MiB fill chunk.
  const int64_t cols = 4096, nrows = 1100;
  int64_t next_row = 0;
  GgufWriter w;
  w.set_alignment(64);
  w.add_tensor("small", GgmlType::F32, {3}, [](int64_t, int64_t n, uint8_t* dst) {
    const float v[3] = {1, 2, 3};
    std::memcpy(dst, v, sizeof v);
  });
  w.add_tensor("big", GgmlType::F16, {cols, nrows}, [&](int64_t row0, int64_t n, uint8_t* dst) {
    EXPECT_EQ(row0, next_row);  // chunks come in row order, each whole
    next_row = row0 + n;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const uint16_t h = f32_to_f16(float((row0 + r) % 100) + float(c % 8) * 0.125f);
        std::memcpy(dst + 2 * (r * cols + c), &h, 2);
      }
  });
  w.write(path);
  EXPECT_EQ(next_row, nrows);

  const GgufFile g = read_gguf(path, MappedFile::Mode::Read);
  EXPECT_EQ(g.alignment, 64u);
  EXPECT_EQ(g.data_offset % 64, 0u);
  EXPECT_EQ(g.tensor("big").offset, 64u);
  const TensorView v = gguf_tensor_as_view(g.tensor("big"));
  EXPECT_EQ(v.shape, (std::vector<int64_t>{nrows, cols}));
  EXPECT_EQ(load_float(v, 1099 * cols + 5), 99.625f);
  EXPECT_EQ(load_float(gguf_tensor_as_view(g.tensor("small")), 2), 3.0f);
}

TEST(GgufRoundTrip, WriterRejectsBadTensors) {
  GgufWriter w;
  const float x[64] = {};
  expect_input_error([&] { w.add_tensor_from_f32("t", GgmlType::Q4_0, {48}, x); }, {"'t'", "q4_0", "48"});
  w.add_tensor_from_f32("u", GgmlType::F32, {64}, x);
  EXPECT_THROW(w.add_tensor_from_f32("u", GgmlType::F32, {64}, x), InternalError);
  EXPECT_THROW(w.add_tensor_from_f32("v", GgmlType::F32, {1, 1, 1, 1, 1}, x), InternalError);
  expect_input_error([&] { w.add_tensor_from_f32(std::string(64, 'n'), GgmlType::F32, {64}, x); }, {"1..63 bytes"});
  std::vector<uint8_t> out(64);
  expect_input_error([&] { quantize_rows_to(GgmlType::Q8_0, x, 1, 33, out.data()); }, {"33", "q8_0"});
  EXPECT_THROW(w.set_alignment(24), InternalError);
  w.set("bad", GgufValue::uint_array(GgufType::U8, {256}));
  test::TempDir tmp;
  EXPECT_THROW(w.write(tmp.file("bad.gguf")), InternalError);
  EXPECT_FALSE(std::filesystem::exists(tmp.file("bad.gguf")));
}

// ---------------------------------------------------------------------------------------------
// Handcrafted corrupt files: each names the file and the byte offset of the wrong field.

namespace {

struct Bytes {
  std::string b;
  template <typename T>
  void put(T v) {
    char c[sizeof(T)];
    std::memcpy(c, &v, sizeof(T));
    b.append(c, sizeof(T));
  }
  void u8(uint8_t v) { put(v); }
  void u32(uint32_t v) { put(v); }
  void u64(uint64_t v) { put(v); }
  void str(const std::string& s) {
    u64(s.size());
    b += s;
  }
  uint64_t size() const { return b.size(); }
  void header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    b.append("GGUF", 4);
    u32(version);
    u64(tensors);
    u64(kvs);
  }
  void kv_u32(const std::string& key, uint32_t v) {
    str(key);
    u32(4);
    u32(v);
  }
  // Tensor info; returns the byte offset of its `offset` field.
  uint64_t tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name);
    u32(uint32_t(ne.size()));
    for (uint64_t d : ne) u64(d);
    u32(type);
    const uint64_t at = size();
    u64(offset);
    return at;
  }
  void pad(uint64_t alignment = 32) { b.append((alignment - b.size() % alignment) % alignment, '\0'); }
  void zeros(uint64_t n) { b.append(n, '\0'); }
};

class GgufCorrupt : public ::testing::Test {
 protected:
  // Writes `bytes` and expects read_gguf to fail naming the file, "byte <at>:" and `what`.
  void expect_fails(const Bytes& bytes, uint64_t at, const std::string& what) {
    const std::string path = tmp_.file("bad.gguf");
    std::ofstream(path, std::ios::binary) << bytes.b;
    expect_input_error([&] { read_gguf(path); }, {path, fmt::format("byte {}:", at), what});
  }
  test::TempDir tmp_;
};

}  // namespace

TEST_F(GgufCorrupt, ValidHandcraftedFileReads) {
  // The baseline the corrupt cases break: two f32 tensors, explicit alignment.
  Bytes f;
  f.header(2, 1);
  f.kv_u32("general.alignment", 32);
  f.tensor("x", {8}, 0, 0);
  f.tensor("y", {4, 2}, 0, 32);
  f.pad();
  f.zeros(64);
  const std::string path = tmp_.file("ok.gguf");
  std::ofstream(path, std::ios::binary) << f.b;
  const GgufFile g = read_gguf(path);
  EXPECT_EQ(g.tensor("y").ne, (std::vector<int64_t>{4, 2}));
  EXPECT_EQ(g.tensor("y").file_offset, g.data_offset + 32);
}

TEST_F(GgufCorrupt, BadMagic) {
  Bytes f;
  f.b = "GGML";
  f.u32(3);
  f.u64(0);
  f.u64(0);
  expect_fails(f, 0, "bad magic");
}

TEST_F(GgufCorrupt, TruncatedHeader) {
  Bytes f;
  f.b = "GGUF";
  f.u32(3);
  f.u32(0);  // half a tensor count
  expect_fails(f, 8, "tensor count");
}

TEST_F(GgufCorrupt, UnsupportedVersions) {
  Bytes v1;
  v1.header(0, 0, 1);
  expect_fails(v1, 4, "version 1");
  Bytes v4;
  v4.header(0, 0, 4);
  expect_fails(v4, 4, "unsupported GGUF version 4");
  Bytes big;
  big.header(0, 0, 0x03000000u);
  expect_fails(big, 4, "big-endian");
}

TEST_F(GgufCorrupt, Version2Reads) {
  Bytes f;
  f.header(0, 1, 2);
  f.kv_u32("k", 5);
  const std::string path = tmp_.file("v2.gguf");
  std::ofstream(path, std::ios::binary) << f.b;
  const GgufFile g = read_gguf(path);
  EXPECT_EQ(g.version, 2u);
  EXPECT_EQ(g.get_u32("k"), 5u);
}

TEST_F(GgufCorrupt, HugeCounts) {
  Bytes t;
  t.header(uint64_t(1) << 60, 0);
  expect_fails(t, 8, "tensor count");
  Bytes k;
  k.header(0, ~uint64_t(0));
  expect_fails(k, 16, "metadata count");
}

TEST_F(GgufCorrupt, KeyLengthPastTheEnd) {
  Bytes f;
  f.header(0, 1);
  f.u64(uint64_t(1) << 62);  // key length
  f.zeros(16);
  expect_fails(f, 24, "length 4611686018427387904 runs past the end");
}

TEST_F(GgufCorrupt, StringValueLengthPastTheEnd) {
  Bytes f;
  f.header(0, 1);
  f.str("name");
  f.u32(8);  // string
  const uint64_t at = f.size();
  f.u64(100);
  f.b += "short";
  expect_fails(f, at, "value of 'name' length 100 runs past the end");
}

TEST_F(GgufCorrupt, UnknownValueType) {
  Bytes f;
  f.header(0, 1);
  f.str("key");
  const uint64_t at = f.size();
  f.u32(13);
  f.u32(0);
  expect_fails(f, at, "unknown metadata value type 13");
}

TEST_F(GgufCorrupt, UnknownArrayElementType) {
  Bytes f;
  f.header(0, 1);
  f.str("arr");
  f.u32(9);
  const uint64_t at = f.size();
  f.u32(99);
  f.u64(0);
  expect_fails(f, at, "unknown metadata value type 99");
}

TEST_F(GgufCorrupt, ArrayCountBeyondTheFile) {
  Bytes f;
  f.header(0, 1);
  f.str("arr");
  f.u32(9);
  f.u32(8);  // of strings: >= 8 bytes each
  const uint64_t at = f.size();
  f.u64(1000);
  f.zeros(64);
  expect_fails(f, at, "claims 1000 string elements");
}

TEST_F(GgufCorrupt, ArraysNestedTooDeep) {
  Bytes f;
  f.header(0, 1);
  f.str("deep");
  f.u32(9);
  for (int level = 0; level < 20; ++level) {
    f.u32(9);  // element type: array
    f.u64(1);  // one element
  }
  f.zeros(64);
  // Levels start at byte 24 + 8 + 4 + 4 = 40 (the outer array's element type), 12 bytes each.
  expect_fails(f, 40 + 8 * 12, "nests arrays deeper than 8");
}

TEST_F(GgufCorrupt, BoolNotZeroOrOne) {
  Bytes f;
  f.header(0, 1);
  f.str("flag");
  f.u32(7);
  const uint64_t at = f.size();
  f.u8(2);
  expect_fails(f, at, "expected 0 or 1");
}

TEST_F(GgufCorrupt, EmptyKey) {
  Bytes f;
  f.header(0, 1);
  f.kv_u32("", 1);
  f.zeros(8);
  expect_fails(f, 24, "empty metadata key");
}

TEST_F(GgufCorrupt, DuplicateKey) {
  Bytes f;
  f.header(0, 2);
  f.kv_u32("a.b", 1);
  const uint64_t at = f.size();
  f.kv_u32("a.b", 2);
  expect_fails(f, at, "duplicate metadata key 'a.b' (first at byte 24)");
}

TEST_F(GgufCorrupt, AlignmentNotAPowerOfTwo) {
  Bytes f;
  f.header(0, 1);
  f.kv_u32("general.alignment", 48);
  expect_fails(f, 24, "power of two");
  Bytes g;
  g.header(0, 1);
  g.str("general.alignment");
  g.u32(10);  // u64: the spec says u32
  g.u64(32);
  expect_fails(g, 24, "'general.alignment' is u64, expected u32");
}

TEST_F(GgufCorrupt, TooManyDimensions) {
  Bytes f;
  f.header(1, 0);
  f.str("t");
  const uint64_t at = f.size();
  f.u32(5);
  for (int d = 0; d < 5; ++d) f.u64(1);
  f.u32(0);
  f.u64(0);
  expect_fails(f, at, "5 dimensions");
}

TEST_F(GgufCorrupt, UnsupportedTensorType) {
  Bytes f;
  f.header(1, 0);
  f.str("blk.0.attn_q.weight");
  f.u32(2);
  f.u64(256);
  f.u64(2);
  const uint64_t at = f.size();
  f.u32(12);  // q4_K
  f.u64(0);
  f.pad();
  f.zeros(512);
  expect_fails(f, at, "ggml type 12 (q4_K)");
  Bytes g;
  g.header(1, 0);
  g.str("t");
  g.u32(1);
  g.u64(32);
  const uint64_t at2 = g.size();
  g.u32(77);
  g.u64(0);
  expect_fails(g, at2, "ggml type 77 (unknown)");
}

TEST_F(GgufCorrupt, DimensionsOverflow) {
  Bytes f;
  f.header(1, 0);
  f.str("t");
  f.u32(3);
  f.u64(uint64_t(1) << 31);
  f.u64(uint64_t(1) << 31);
  const uint64_t at = f.size();
  f.u64(uint64_t(1) << 31);  // 2^93 elements
  f.u32(0);
  f.u64(0);
  expect_fails(f, at, "dimensions overflow (ne[2]");
  Bytes g;
  g.header(1, 0);
  g.str("t");
  g.u32(1);
  const uint64_t at2 = g.size();
  g.u64(~uint64_t(0));  // -1 as int64
  g.u32(0);
  g.u64(0);
  expect_fails(g, at2, "dimensions overflow (ne[0]");
}

TEST_F(GgufCorrupt, RowNotAWholeNumberOfBlocks) {
  Bytes f;
  f.header(1, 0);
  f.str("t");
  f.u32(2);
  const uint64_t at = f.size();
  f.u64(30);
  f.u64(2);
  f.u32(8);  // q8_0
  f.u64(0);
  expect_fails(f, at, "ne[0] = 30, not a multiple of the q8_0 block size 32");
}

TEST_F(GgufCorrupt, TensorOffsetNotAligned) {
  Bytes f;
  f.header(1, 0);
  const uint64_t at = f.tensor("t", {4}, 0, 16);
  f.pad();
  f.zeros(64);
  expect_fails(f, at, "offset 16 is not a multiple of the alignment 32");
}

TEST_F(GgufCorrupt, TensorDataPastTheEnd) {
  Bytes f;
  f.header(2, 0);
  f.tensor("a", {8}, 0, 0);
  const uint64_t at = f.tensor("b", {32}, 1, 32);  // 64 bytes of f16 at data offset 32
  f.pad();
  f.zeros(32 + 63);  // one byte short
  expect_fails(f, at, "tensor 'b' data (offset 32 + 64 bytes");
  Bytes g;
  g.header(1, 0);
  const uint64_t at2 = g.tensor("huge", {8}, 0, uint64_t(1) << 63);
  g.pad();
  expect_fails(g, at2, "runs past the end of the file");
}

TEST_F(GgufCorrupt, OverlappingTensors) {
  Bytes f;
  f.header(3, 0);
  f.tensor("a", {16}, 0, 0);             // [0, 64)
  f.tensor("c", {8}, 0, 128);            // [128, 160)
  const uint64_t at = f.tensor("b", {16}, 0, 32);  // [32, 96) overlaps a
  f.pad();
  f.zeros(160);
  expect_fails(f, at, "tensor 'b' data [32, 96) overlaps tensor 'a' data [0, 64)");
}

TEST_F(GgufCorrupt, DuplicateTensorName) {
  Bytes f;
  f.header(2, 0);
  f.tensor("w", {8}, 0, 0);
  const uint64_t at = f.size();
  f.tensor("w", {8}, 0, 32);
  f.pad();
  f.zeros(64);
  expect_fails(f, at, "duplicate tensor name 'w' (first at byte 24)");
}

TEST_F(GgufCorrupt, TruncatedTensorInfo) {
  Bytes f;
  f.header(1, 0);
  f.str(std::string(40, 'n'));  // long enough name that the count guard passes
  f.u32(2);
  f.u64(4);
  f.u32(0);  // half of ne[1]: the file ends here
  expect_fails(f, 24 + 48 + 4 + 8, "tensor dimension needs 8 bytes but only 4 remain");
}

// Every prefix of a valid file is refused cleanly, and random byte corruption either reads or is
// refused with an InputError (never a crash; run under QUANTSCOPE_SANITIZE to check memory safety).
TEST_F(GgufCorrupt, TruncationsAndMutationsNeverCrash) {
  const std::string good = tmp_.file("good.gguf");
  const std::vector<float> x = ramp(64 * 2, 1.0f);
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string_array("tokenizer.ggml.tokens", {"a", "bc", "def"});
  w.set_f32_array("tokenizer.ggml.scores", {0.5f, 1.5f, 2.5f});
  w.set("nested", GgufValue::array_of_arrays({GgufValue::string_array({"x"})}));
  w.add_tensor_from_f32("w.q4_1", GgmlType::Q4_1, {64, 2}, x.data());
  w.add_tensor_from_f32("w.f16", GgmlType::F16, {64, 2}, x.data());
  w.write(good);
  std::ifstream in(good, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const GgufFile ok = read_gguf(good);
  const uint64_t data_end = ok.tensor("w.f16").file_offset + ok.tensor("w.f16").nbytes;

  const std::string path = tmp_.file("cut.gguf");
  // A fresh file each time: truncating a just-written file makes ext4 flush it (auto_da_alloc), ~5 ms each.
  auto put = [&](const std::string& contents) {
    std::filesystem::remove(path);
    std::ofstream(path, std::ios::binary) << contents;
  };
  // Every cut inside the header and tables, then a few inside the data.
  std::vector<uint64_t> cuts;
  for (uint64_t n = 0; n < ok.data_offset; ++n) cuts.push_back(n);
  for (uint64_t n = ok.data_offset; n < data_end; n += 37) cuts.push_back(n);
  cuts.push_back(data_end - 1);
  for (uint64_t n : cuts) {
    put(bytes.substr(0, n));
    EXPECT_THROW(read_gguf(path), InputError) << "prefix of " << n << " bytes";
  }
  std::mt19937 rng(1);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string m = bytes;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      // Mostly the header and tables, where structure lives.
      const size_t at = rng() % std::min<size_t>(m.size(), ok.data_offset + 16);
      m[at] = char(trial % 3 == 0 ? 0xff : rng() & 0xff);
    }
    put(m);
    try {
      read_gguf(path);
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace quantscope
