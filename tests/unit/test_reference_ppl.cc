// Perplexity of stories260K on the whole tinystories-valid.txt under each protocol, against the
// independent PyTorch reference (tests/reference/torch_reference.py stories-ppl), within 1e-4
// relative; and the tokenizer's stream against the reference tokenizer's.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "core/mapped_file.h"
#include "eval/perplexity.h"
#include "model/model.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace quantscope {
namespace {

class ReferencePpl : public ::testing::TestWithParam<PplProtocol> {};

TEST_P(ReferencePpl, WholeFileMatchesPyTorchWithin1e4) {
  const auto ref = nlohmann::json::parse(read_text_file(test::fixture_path("reference/stories260k_ppl.json")));
  auto model = load_model(test::data_path("stories260K.bin"));
  auto tok = load_tokenizer(test::data_path("stories260K.bin"), test::data_path("tok512.bin"), 512);
  const std::string text = read_text_file(test::data_path("tinystories-valid.txt"));
  const std::vector<int> stream = tok->encode(text, false);
  ASSERT_EQ(int64_t(stream.size()), ref["stream_length"].get<int64_t>());
  const auto first = ref["stream_first_64"].get<std::vector<int>>();
  ASSERT_TRUE(std::equal(first.begin(), first.end(), stream.begin()));

  PplOptions o;
  o.protocol = GetParam();
  o.ctx = 512;
  o.progress = false;
  Forward fwd(*model);
  const PplResult r = perplexity(fwd, stream, model->config.bos_id, o, text);
  const auto& p = ref["protocols"][std::string(ppl_protocol_name(o.protocol))];
  EXPECT_EQ(r.scored, p["n_scored"].get<int64_t>());
  EXPECT_EQ(r.windows, p["n_windows"].get<int64_t>());
  const double ref_ppl = p["ppl"].get<double>();
  EXPECT_LE(std::fabs(r.ppl - ref_ppl) / ref_ppl, 1e-4) << r.ppl << " vs " << ref_ppl;
  EXPECT_LE(std::fabs(r.nll_sum - p["nll_sum"].get<double>()) / p["nll_sum"].get<double>(), 1e-4);
  EXPECT_NEAR(r.se_mean_nll, p["se"].get<double>(), 1e-4 * p["se"].get<double>());
  if (o.protocol == PplProtocol::Rolling) {
    EXPECT_EQ(r.words, p["words"].get<int64_t>());
    EXPECT_EQ(r.bytes, p["bytes"].get<int64_t>());
    EXPECT_LE(std::fabs(r.word_ppl - p["word_perplexity"].get<double>()) / p["word_perplexity"].get<double>(), 1e-4);
    EXPECT_LE(std::fabs(r.bits_per_byte - p["bits_per_byte"].get<double>()) / p["bits_per_byte"].get<double>(), 1e-4);
  }
}

INSTANTIATE_TEST_SUITE_P(Protocols, ReferencePpl,
                         ::testing::Values(PplProtocol::FullWindow, PplProtocol::LlamaCpp, PplProtocol::Rolling),
                         [](const auto& info) {
                           switch (info.param) {
                             case PplProtocol::FullWindow: return std::string("FullWindow");
                             case PplProtocol::LlamaCpp: return std::string("LlamaCpp");
                             default: return std::string("Rolling");
                           }
                         });

}  // namespace
}  // namespace quantscope
