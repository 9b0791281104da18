// Throughput measurement: the figures are counted from the runs (tokens / seconds), the byte counts
// from the model; `bench MODEL --json` reports them. Speeds themselves are never asserted.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "eval/throughput.h"
#include "kernels/gemm.h"
#include "kernels/host_probe.h"
#include "test_util.h"

namespace quantscope {
namespace {

TEST(Throughput, CountsRunsAndBytes) {
  auto m = load_model(test::data_path("stories260K.bin"));
  ThroughputOptions o;
  o.prompt = 16;
  o.gen = 8;
  o.repetitions = 3;
  o.warmup = 0;
  const ThroughputResult r = measure_throughput(*m, o);
  ASSERT_EQ(r.prefill_tok_s.samples.size(), 3u);
  ASSERT_EQ(r.decode_tok_s.samples.size(), 3u);
  for (double v : r.prefill_tok_s.samples) EXPECT_GT(v, 0);
  EXPECT_LE(r.decode_tok_s.min(), r.decode_tok_s.median());
  EXPECT_LE(r.decode_tok_s.median(), r.decode_tok_s.max());
  // stories260K: 5 layers x (q, o 64x64; k, v 32x64 (4 KV heads of 8); gate, up 172x64, down 64x172)
  // fp32, plus the tied lm_head 512 x 64.
  EXPECT_EQ(r.streamed_weight_bytes, uint64_t(5 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 172) + 512 * 64) * 4);
  // a decode step at position p reads p + 1 keys and values: mean 16 + 9/2 positions x 5 layers x kv_dim 32
  EXPECT_EQ(r.kv_bytes_per_token_read,
            uint64_t((16 + 4.5) * 2 * 5 * m->config.kv_dim() * 4));
  // Prefill flops, 2 per multiply-add: every decoder linear for each of the 16 positions, the lm_head
  // once (only the last position's logits are computed), and attention: position p attends to p + 1
  // keys, QK^T and the weighted sum over head_dim 8 for each of 8 query heads in 5 layers.
  const double linear_macs = 5.0 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 64 * 172);
  const double attended = 16.0 * 17.0 / 2.0;
  EXPECT_DOUBLE_EQ(r.prefill_flops, 2.0 * (16 * linear_macs + 512 * 64 + attended * 2 * 8 * 8 * 5));
}

TEST(Throughput, BenchCommandReportsJson) {
  const auto r = test::run_cli("bench " + test::data_path("stories260K.bin") + " -p 8 -n 4 -r 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(j["prompt_tokens"], 8);
  EXPECT_EQ(j["decode_tok_s"]["samples"].size(), 2u);
  EXPECT_GT(j["peak_rss_bytes"].template get<double>(), 0);
  EXPECT_GT(j["decode_GB_s"].template get<double>(), 0);
  // the GEMM blocking this CPU's caches gave (the prefill figures depend on it)
  EXPECT_EQ(j["gemm_blocking"]["panel_bytes"].template get<int64_t>(), gemm_blocking().panel_bytes);
  EXPECT_EQ(j["gemm_blocking"]["avx512_chunks_per_pass"].template get<int64_t>(),
            gemm_blocking().chunks_per_pass_avx512);
  EXPECT_EQ(j["gemm_blocking"]["avx2_chunks_per_pass"].template get<int64_t>(), gemm_blocking().chunks_per_pass_avx2);
  EXPECT_EQ(j["gemm_blocking"]["lane_steps_per_pass"].template get<int64_t>(), gemm_blocking().lane_steps_per_pass);
  EXPECT_EQ(test::run_cli("bench").exit_code, 2);  // neither a model nor --host
  EXPECT_FALSE(j.contains("read_probe"));         // only with --read-probe
}

// --read-probe: the read bandwidth measured after the runs, and decode's GB/s as a fraction of it.
TEST(Throughput, BenchReadProbeBesideTheRuns) {
  const auto r = test::run_cli("bench " + test::data_path("stories260K.bin") +
                               " -p 8 -n 4 -r 1 -t 2 --json --read-probe --host-bytes 8MiB");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  ASSERT_TRUE(j.contains("read_probe"));
  EXPECT_EQ(j["read_probe"]["bytes"].template get<uint64_t>(), uint64_t(8) << 20);
  EXPECT_EQ(j["read_probe"]["threads"].template get<int>(), 2);
  const double read = j["read_probe"]["GB_s"].template get<double>();
  EXPECT_GT(read, 0);
  EXPECT_DOUBLE_EQ(j["decode_of_read_probe"].template get<double>(), j["decode_GB_s"].template get<double>() / read);
  // The table prints the same figure; CSV has it in its last two columns.
  const auto t = test::run_cli("bench " + test::data_path("stories260K.bin") + " -p 4 -n 2 -r 1 --read-probe --host-bytes 1MiB");
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("read BW"), std::string::npos) << t.out;
  if (last_level_cache_bytes() > 0) {  // 1 MiB is below 8x any last-level cache: warned, as bench --host warns
    EXPECT_NE(t.err.find("include cache hits"), std::string::npos) << t.err;
  }
  const auto c = test::run_cli("bench " + test::data_path("stories260K.bin") + " -p 4 -n 2 -r 1 --csv");
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_NE(c.out.find("peak_rss_bytes,read_probe_GB_s,decode_of_read_probe\n"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find(",,\n"), std::string::npos) << c.out;  // not measured: both empty
  // An array below the probe's minimum is bad input, named.
  const auto bad = test::run_cli("bench " + test::data_path("stories260K.bin") + " -p 4 -n 2 -r 1 --read-probe --host-bytes 100");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("read probe"), std::string::npos) << bad.err;
  EXPECT_EQ(test::run_cli("bench --host --read-probe").exit_code, 2);  // --host runs the read probe itself
}

}  // namespace
}  // namespace quantscope
