// Logits of the C++ forward pass against the independent PyTorch reference
// (tests/reference/torch_reference.py make-fixtures): small synthetic openPangu-Embedded, Llama
// and Qwen2 checkpoints written by the reference itself (fp32 and bf16 storage, one untied and
// sharded with stored rotary_emb.inv_freq buffers), and stories260K. Criterion of issue 2:
// max |delta| / max |ref| <= 1e-5.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "core/mapped_file.h"
#include "core/npy.h"
#include "model/forward.h"
#include "test_util.h"

namespace quantscope {
namespace {

double relative_max_error(const std::vector<float>& got, const std::vector<float>& ref) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_diff = std::max(max_diff, double(std::fabs(got[i] - ref[i])));
    max_ref = std::max(max_ref, double(std::fabs(ref[i])));
  }
  return max_diff / max_ref;
}

void check(const std::string& model_path, const std::string& tokens_json, const std::string& logits_npy,
           Architecture arch) {
  auto model = load_model(model_path);
  EXPECT_EQ(model->config.arch, arch);
  const auto ids = nlohmann::json::parse(read_text_file(tokens_json))["input_ids"].get<std::vector<int>>();
  const NpyArray ref = read_npy_f32(logits_npy);
  ASSERT_EQ(ref.shape.size(), 2u);
  ASSERT_EQ(ref.shape[0], int64_t(ids.size()));
  ASSERT_EQ(ref.shape[1], model->config.vocab_size);
  Forward fwd(*model);
  KVCache cache(model->config, int64_t(ids.size()));
  std::vector<float> got(ref.data.size());
  fwd.run(ids.data(), int64_t(ids.size()), 0, cache, got.data(), true);
  const double err = relative_max_error(got, ref.data);
  EXPECT_LE(err, 1e-5) << model_path;
  ::testing::Test::RecordProperty("relative_max_error", std::to_string(err));
}

struct Fixture {
  const char* dir;
  Architecture arch;
};

class ReferenceLogits : public ::testing::TestWithParam<Fixture> {};

TEST_P(ReferenceLogits, MatchPyTorchWithin1e5) {
  const std::string dir = test::fixture_path(std::string("reference/") + GetParam().dir);
  check(dir, dir + "/tokens.json", dir + "/logits.npy", GetParam().arch);
}

INSTANTIATE_TEST_SUITE_P(
    Synthetic, ReferenceLogits,
    ::testing::Values(Fixture{"openpangu_fp32", Architecture::OpenPanguEmbedded},
                      Fixture{"openpangu_bf16", Architecture::OpenPanguEmbedded},
                      Fixture{"openpangu_untied_sharded_fp32", Architecture::OpenPanguEmbedded},
                      Fixture{"llama_fp32", Architecture::Llama}, Fixture{"llama_bf16", Architecture::Llama},
                      Fixture{"qwen2_fp32", Architecture::Qwen2}, Fixture{"qwen2_bf16", Architecture::Qwen2}),
    [](const auto& info) { return std::string(info.param.dir); });

TEST(ReferenceLogitsStories, Stories260KFirstWindowMatchesPyTorch) {
  check(test::data_path("stories260K.bin"), test::fixture_path("reference/stories260k_logits_input.json"),
        test::fixture_path("reference/stories260k_logits.npy"), Architecture::Llama);
}

}  // namespace
}  // namespace quantscope
