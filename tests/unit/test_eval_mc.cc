// Multiple-choice scoring on stories260K: prefix reuse and thread count change no score (bit-identical
// log-likelihoods), scores match a direct forward pass, the CLI writes the JSON and the McNemar
// comparison between two runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/mapped_file.h"
#include "core/parallel.h"
#include "eval/mc_scoring.h"
#include "kernels/ops.h"
#include "test_util.h"

namespace quantscope {
namespace {

struct Fixture {
  std::unique_ptr<Model> model = load_model(test::data_path("stories260K.bin"));
  std::unique_ptr<Tokenizer> tok =
      load_tokenizer(model->path, test::data_path("tok512.bin"), model->config.vocab_size);
};

McResult score(const Fixture& f, const McTask& t, bool reuse, int threads) {
  const int saved = num_threads();
  set_num_threads(threads);
  Forward fwd(*f.model);
  McScoringOptions o;
  o.prefix_reuse = reuse;
  o.progress = false;
  McResult r = score_mc_task(fwd, *f.tok, f.model->config.bos_id, t, o);
  set_num_threads(saved);
  return r;
}

McTask small_task(const std::string& kind, const std::string& file) {
  return read_mc_task(kind, test::fixture_path("eval/" + file), {});
}

TEST(EvalMc, PrefixReuseAndThreadsAreBitIdentical) {
  Fixture f;
  for (auto [kind, file] : std::vector<std::pair<std::string, std::string>>{
           {"mc", "generic.jsonl"}, {"hellaswag", "hellaswag.jsonl"}, {"winogrande", "winogrande.jsonl"},
           {"arc", "arc.jsonl"}, {"piqa", "piqa.jsonl"}, {"lambada", "lambada.jsonl"}, {"blimp", "blimp_small.jsonl"}}) {
    const McTask t = small_task(kind, file);
    const McResult a = score(f, t, true, 1), b = score(f, t, false, 1), c = score(f, t, true, 2), d = score(f, t, false, 2);
    ASSERT_FALSE(a.loglik.empty());
    EXPECT_EQ(a.loglik, b.loglik) << kind;  // exact equality of doubles
    EXPECT_EQ(a.loglik, c.loglik) << kind;
    EXPECT_EQ(a.loglik, d.loglik) << kind;
    EXPECT_EQ(a.correct, c.correct) << kind;
    EXPECT_EQ(a.tokens_scored, b.tokens_scored) << kind;
  }
}

TEST(EvalMc, BlimpScoreIsWholeSentenceAfterBos) {
  Fixture f;
  const McTask t = small_task("blimp", "blimp_small.jsonl");
  const McResult r = score(f, t, true, 1);
  // direct: log P(sentence | BOS) = sum over tokens of log_softmax at the previous position
  const std::vector<int> ids = f.tok->encode("The cat is happy.", true);
  Forward fwd(*f.model);
  KVCache cache(f.model->config, int64_t(ids.size()));
  const int64_t V = f.model->config.vocab_size;
  std::vector<float> logits(ids.size() * size_t(V));
  fwd.run(ids.data(), int64_t(ids.size()), 0, cache, logits.data(), true);
  double ll = 0;
  for (size_t i = 1; i < ids.size(); ++i) ll += log_softmax_at(&logits[(i - 1) * size_t(V)], V, ids[i]);
  EXPECT_EQ(r.loglik[0], ll);
  EXPECT_EQ(r.n, 3);
  ASSERT_EQ(r.groups.size(), 1u);
  EXPECT_EQ(r.groups[0].group, "toy_agreement");
}

TEST(EvalMc, CodepointLength) {
  EXPECT_EQ(codepoint_count(" caf\xc3\xa9"), 5);
  EXPECT_EQ(codepoint_count(""), 0);
}

TEST(EvalMc, CliJsonAndPairedMcNemar) {
  test::TempDir tmp;
  const std::string model = test::data_path("stories260K.bin") + " --tokenizer " + test::data_path("tok512.bin");
  const std::string tasks = "blimp:" + test::data_path("blimp") + ",piqa:" + test::fixture_path("eval/piqa.jsonl");
  auto r = test::run_cli("eval " + model + " -q -t 1 --limit 3 --tasks " + tasks + " --json " + tmp.file("a.json") +
                         " --markdown " + tmp.file("a.md"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(read_text_file(tmp.file("a.json")));
  const auto& b = j["tasks"][0];
  EXPECT_EQ(b["task"], "blimp");
  EXPECT_EQ(b["items"].get<int64_t>(), 3 * int64_t(b["groups"].size()));
  EXPECT_EQ(b["correct"].get<std::string>().size(), b["items"].get<size_t>());
  EXPECT_TRUE(j["tasks"][1].contains("acc_norm"));
  EXPECT_NE(read_text_file(tmp.file("a.md")).find("| adjunct_island | 3 |"), std::string::npos);
  // the same model against itself: no discordant pairs, "difference below noise"
  r = test::run_cli("eval " + model + " -q -t 1 --limit 3 --tasks " + tasks + " --paired " + tmp.file("a.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("McNemar exact p = 1: difference below noise"), std::string::npos) << r.out;
  // a different --limit is refused
  r = test::run_cli("eval " + model + " -q -t 1 --limit 2 --tasks " + tasks + " --paired " + tmp.file("a.json"));
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace quantscope
