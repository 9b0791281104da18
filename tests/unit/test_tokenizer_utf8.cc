// UTF-8 helpers and NFC, against Python's unicodedata (tests/fixtures/tokenizer/nfc_goldens.json).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "test_util.h"
#include "tokenizer/utf8.h"

namespace quantscope {
namespace {

TEST(TokenizerUtf8, DecodesAndRejectsMalformedSequences) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";
  size_t pos = 0;
  EXPECT_EQ(utf8_decode(s, pos), 0x61u);
  EXPECT_EQ(utf8_decode(s, pos), 0xE9u);
  EXPECT_EQ(utf8_decode(s, pos), 0x20ACu);
  EXPECT_EQ(utf8_decode(s, pos), 0x1F600u);
  EXPECT_EQ(pos, s.size());
  for (const std::string bad : {"\x80", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82", "\xFF", "\xC3 "}) {
    size_t p = 0;
    EXPECT_EQ(utf8_decode(bad, p), kUtf8Invalid) << testing::PrintToString(bad);
    EXPECT_EQ(p, 1u);
    EXPECT_FALSE(utf8_valid(bad));
  }
  EXPECT_TRUE(utf8_valid(s));
  std::string out;
  for (uint32_t cp : {0x24u, 0xA2u, 0x20ACu, 0x10348u}) utf8_append(out, cp);
  EXPECT_EQ(out, "\x24\xC2\xA2\xE2\x82\xAC\xF0\x90\x8D\x88");
}

TEST(TokenizerUtf8, NfcMatchesPythonUnicodedata) {
  const auto g = nlohmann::json::parse(read_text_file(test::fixture_path("tokenizer/nfc_goldens.json")));
  EXPECT_EQ(g["unicode_version"].get<std::string>(), unicode_version());
  int checked = 0;
  for (const auto& c : g["cases"]) {
    const std::string in = c["in"].get<std::string>();
    EXPECT_EQ(utf8_nfc(in), c["nfc"].get<std::string>()) << testing::PrintToString(in);
    ++checked;
  }
  EXPECT_GE(checked, 400);
  EXPECT_EQ(utf8_nfc("caf\x65\xCC\x81 \xFF x"), "caf\xC3\xA9 \xFF x");  // malformed bytes pass through
}

}  // namespace
}  // namespace quantscope
