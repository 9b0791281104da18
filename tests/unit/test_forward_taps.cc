// Activation taps see the input of every linear layer; `quantscope logits` writes what the forward
// pass computes.
#include <gtest/gtest.h>

#include <cstring>
#include <map>

#include "core/npy.h"
#include "kernels/ops.h"
#include "model/forward.h"
#include "test_util.h"

namespace quantscope {
namespace {

struct RecordingTap : ActivationTap {
  std::map<std::pair<int, TensorRole>, std::vector<float>> inputs;
  void on_linear_input(int layer, TensorRole role, const float* x, int64_t m, int64_t k) override {
    inputs[{layer, role}].assign(x, x + m * k);
  }
};

TEST(ForwardTaps, SeeEveryLinearInputWithoutChangingLogits) {
  auto m = load_model(test::data_path("stories260K.bin"));
  const std::vector<int> ids = {1, 403, 407, 261, 378};
  Forward plain(*m), tapped(*m);
  RecordingTap tap;
  tapped.set_tap(&tap);
  KVCache c1(m->config, 5), c2(m->config, 5);
  std::vector<float> a(5 * 512), b(5 * 512);
  plain.run(ids.data(), 5, 0, c1, a.data(), true);
  tapped.run(ids.data(), 5, 0, c2, b.data(), true);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
  // 7 linears per layer x 5 layers + lm_head
  EXPECT_EQ(tap.inputs.size(), size_t(7 * 5 + 1));
  for (const auto& [key, x] : tap.inputs) {
    const auto [layer, role] = key;
    const int64_t k = role == TensorRole::MlpDown ? 172 : 64;
    EXPECT_EQ(int64_t(x.size()), 5 * k) << layer << " " << role_name(role);
  }
  // q, k and v read the same normalized input
  EXPECT_EQ((tap.inputs[{2, TensorRole::AttnQ}]), (tap.inputs[{2, TensorRole::AttnV}]));
}

// The quantizer drives the pass one layer at a time (embed, run_layer per layer, final norm, lm_head):
// the same bits as run().
TEST(ForwardTaps, LayerStepsEqualTheWholePass) {
  auto m = load_model(test::data_path("stories260K.bin"));
  const std::vector<int> ids = {1, 403, 407, 261, 378, 429};
  const int64_t n = int64_t(ids.size()), H = m->config.hidden_size, V = m->config.vocab_size;
  Forward whole(*m), steps(*m);
  KVCache c1(m->config, n), c2(m->config, n);
  std::vector<float> a(size_t(n * V)), b(size_t(n * V)), x(size_t(n * H)), xn(size_t(n * H));
  whole.run(ids.data(), n, 0, c1, a.data(), true);
  steps.embed(ids.data(), n, x.data());
  for (int l = 0; l < m->config.num_layers; ++l) steps.run_layer(m->layers[size_t(l)], l, x.data(), n, 0, c2);
  for (int64_t t = 0; t < n; ++t) rms_norm(&x[size_t(t * H)], m->final_norm.data(), H, m->config.norm_eps, &xn[size_t(t * H)]);
  m->lm_head->forward(xn.data(), n, b.data());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * 4));
}

TEST(ForwardTaps, LogitsCommandWritesTheForwardPassLogits) {
  test::TempDir tmp;
  const auto r = test::run_cli("logits " + test::data_path("stories260K.bin") + " --tokens 1,403,407,261 --out " +
                               tmp.file("l.npy"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const NpyArray got = read_npy_f32(tmp.file("l.npy"));
  ASSERT_EQ(got.shape, (std::vector<int64_t>{4, 512}));
  auto m = load_model(test::data_path("stories260K.bin"));
  Forward f(*m);
  KVCache c(m->config, 4);
  std::vector<float> want(4 * 512);
  const std::vector<int> ids = {1, 403, 407, 261};
  f.run(ids.data(), 4, 0, c, want.data(), true);
  EXPECT_EQ(0, std::memcmp(got.data.data(), want.data(), want.size() * 4));
  EXPECT_EQ(test::run_cli("logits " + test::data_path("stories260K.bin") + " --tokens 1,9999 --out " + tmp.file("x.npy")).exit_code, 2);
  EXPECT_EQ(test::run_cli("logits " + test::data_path("stories260K.bin") + " --tokens 1,x --out " + tmp.file("x.npy")).exit_code, 2);
}

}  // namespace
}  // namespace quantscope
