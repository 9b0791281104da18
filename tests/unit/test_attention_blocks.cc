// kernels/attention_blocks.h: the blocked score and value products hold every element to the plain
// arithmetic they replace (fma over the head dimension in order; dot_f32's lanes and tree), bit for bit,
// on every ISA, for any block size, lengths that differ or end mid-chunk, and unaligned operands; and
// they write nothing past each position's length.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "isa_fixture.h"
#include "random_floats.h"
#include "kernels/attention_blocks.h"
#include "kernels/dot.h"
#include "kernels/isa.h"

namespace quantscope {
namespace {

class AttentionBlocks : public test::IsaAndThreadsRestored {};

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0; }

// Block shapes: lengths of up to 4 positions (consecutive causal positions, and arbitrary ones).
std::vector<std::vector<int64_t>> length_sets() {
  std::vector<std::vector<int64_t>> sets;
  for (int64_t pos0 : {0, 13, 60, 63, 64, 127, 200})
    for (int nt = 1; nt <= kAttnBlockRows; ++nt) {
      std::vector<int64_t> len;
      for (int t = 0; t < nt; ++t) len.push_back(pos0 + t + 1);
      sets.push_back(len);
    }
  sets.push_back({17, 3, 64, 0});
  sets.push_back({0});
  sets.push_back({129, 16, 1});
  return sets;
}

TEST_F(AttentionBlocks, ScoresAndValuesBitIdenticalToThePlainArithmeticOnEveryIsa) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t hd : {1, 5, 64, 128}) {
    const int64_t ldk = 263, ldq = hd + 3, lds = 261, ldo = hd + 2;  // odd strides: unaligned rows
    const std::vector<float> keys = test::normal_floats(size_t(hd * ldk + 1), uint64_t(hd));
    const std::vector<float> values = test::normal_floats(size_t(hd * ldk + 1), uint64_t(hd) + 1);
    const std::vector<float> qs = test::normal_floats(size_t(kAttnBlockRows * ldq + 1), uint64_t(hd) + 2);
    std::vector<float> probs = test::normal_floats(size_t(kAttnBlockRows * lds + 1), uint64_t(hd) + 3);
    for (float& p : probs) p = std::fabs(p);
    const float *k = keys.data() + 1, *v = values.data() + 1, *q = qs.data() + 1, *p = probs.data() + 1;
    for (const auto& len : length_sets()) {
      const int nt = int(len.size());
      // The plain arithmetic, written out.
      std::vector<float> want_s(size_t(kAttnBlockRows * lds), nan), want_o(size_t(kAttnBlockRows * ldo), nan);
      for (int t = 0; t < nt; ++t) {
        for (int64_t s = 0; s < len[size_t(t)]; ++s) {
          float acc = 0.0f;
          for (int64_t d = 0; d < hd; ++d) acc = std::fma(q[t * ldq + d], k[d * ldk + s], acc);
          want_s[size_t(t * lds + s)] = acc;
        }
        for (int64_t d = 0; d < hd; ++d)
          want_o[size_t(t * ldo + d)] = dot_f32_scalar(p + t * lds, v + d * ldk, len[size_t(t)]);
      }
      for (Isa isa : supported_isas()) {
        set_isa(isa);
        std::vector<float> got_s(size_t(kAttnBlockRows * lds + 1), nan), got_o(size_t(kAttnBlockRows * ldo + 1), nan);
        attention_scores(q, ldq, nt, k, ldk, hd, len.data(), got_s.data() + 1, lds);
        attention_values(p, lds, nt, v, ldk, hd, len.data(), got_o.data() + 1, ldo);
        std::string what = std::string(isa_name(isa)) + " hd " + std::to_string(hd) + " lengths";
        for (int64_t l : len) what += ' ' + std::to_string(l);
        for (size_t e = 0; e < want_s.size(); ++e)  // NaN where nothing may be written
          ASSERT_TRUE(same_bits(got_s[e + 1], want_s[e]))
              << what << " score " << e << ": " << got_s[e + 1] << " vs " << want_s[e];
        for (size_t e = 0; e < want_o.size(); ++e)
          ASSERT_TRUE(same_bits(got_o[e + 1], want_o[e]))
              << what << " output " << e << ": " << got_o[e + 1] << " vs " << want_o[e];
        EXPECT_TRUE(std::isnan(got_s[0]) && std::isnan(got_o[0])) << what << ": wrote before the output";
      }
    }
  }
}

}  // namespace
}  // namespace quantscope
