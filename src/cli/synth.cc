// quantscope synth --arch A --out DIR: writes a synthetic Hugging Face checkpoint (random weights with a
// real architecture's tensor layout) for tests, benchmarks and demos without a download.
#include <fmt/format.h>

#include <optional>

#include "cli/command.h"
#include "core/error.h"
#include "model/synth.h"

namespace quantscope::cli {
namespace {

struct SynthArgs {
  SynthOptions o;
  std::string out;
  std::string dtype;
  bool tied = false, untied = false;
  int layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, vocab = 0, head_dim = 0;
  uint64_t shard_bytes = 0;
};

int run_synth(SynthArgs& a, CLI::App& sub) {
  SynthOptions& o = a.o;
  auto opt = [&](const char* flag, int v) { return sub.count(flag) ? std::optional<int>(v) : std::nullopt; };
  o.layers = opt("--layers", a.layers);
  o.hidden = opt("--hidden", a.hidden);
  o.intermediate = opt("--intermediate", a.intermediate);
  o.heads = opt("--heads", a.heads);
  o.kv_heads = opt("--kv-heads", a.kv_heads);
  o.vocab = opt("--vocab", a.vocab);
  o.head_dim = opt("--head-dim", a.head_dim);
  if (!a.dtype.empty()) {
    if (a.dtype == "f32") o.dtype = DType::F32;
    else if (a.dtype == "bf16") o.dtype = DType::BF16;
    else fail_input("synth: --dtype '{}' is not supported (expected f32 or bf16)", a.dtype);
  }
  if (a.tied && a.untied) fail_input("synth: --tied and --untied exclude each other");
  if (a.tied) o.tie = true;
  if (a.untied) o.tie = false;
  if (sub.count("--shard-bytes")) o.max_shard_bytes = a.shard_bytes;

  const SynthResult r = write_synthetic_checkpoint(o, a.out);
  const ModelConfig& c = r.config;
  fmt::print("wrote SYNTHETIC checkpoint {} (random weights, not a trained model)\n", a.out);
  fmt::print("  preset       {} ({})\n", o.arch, architecture_name(c.arch));
  fmt::print("  shape        {} layers, hidden {}, intermediate {}, heads {} / {} kv, head_dim {}, vocab {}\n",
             c.num_layers, c.hidden_size, c.intermediate_size, c.num_heads, c.num_kv_heads, c.head_dim, c.vocab_size);
  fmt::print("  embeddings   {}\n", c.tie_embeddings ? "tied" : "untied");
  fmt::print("  parameters   {} ({:.3f} M), dtype {}, seed {}\n", r.params, double(r.params) / 1e6,
             dtype_name(r.dtype), o.seed);
  if (!r.outlier_channels.empty())
    fmt::print("  outliers     channels {} x {}\n", fmt::join(r.outlier_channels, ","), o.outlier_scale);
  fmt::print("  bytes        {} ({:.2f} MiB) in {} files\n", r.bytes, double(r.bytes) / (1024.0 * 1024.0),
             r.files.size());
  for (const std::string& f : r.files) fmt::print("    {}\n", f);
  return 0;
}

const CommandRegistration kSynth{Command{
    "synth", "write a synthetic Hugging Face checkpoint (random weights, real tensor layout)",
    [](CLI::App& sub) -> std::function<int()> {
      auto a = std::make_shared<SynthArgs>();
      sub.add_option("--arch", a->o.arch, "Preset: " + fmt::format("{}", fmt::join(synth_arch_names(), ", ")))
          ->required();
      sub.add_option("--out", a->out, "Output directory (created; must be empty unless --force)")->required();
      sub.add_option("--layers", a->layers, "Number of decoder layers");
      sub.add_option("--hidden", a->hidden, "Hidden size");
      sub.add_option("--intermediate", a->intermediate, "MLP intermediate size");
      sub.add_option("--heads", a->heads, "Query heads");
      sub.add_option("--kv-heads", a->kv_heads, "Key/value heads");
      sub.add_option("--vocab", a->vocab, "Vocabulary size");
      sub.add_option("--head-dim", a->head_dim, "Head dimension (default hidden / heads)");
      sub.add_option("--dtype", a->dtype, "Storage dtype: f32 or bf16 (default bf16 for openPangu, else f32)");
      sub.add_option("--seed", a->o.seed, "Random seed");
      sub.add_option("--outliers", a->o.outlier_channels, "Number of outlier hidden channels");
      sub.add_option("--outlier-scale", a->o.outlier_scale, "Factor applied to the outlier channels");
      sub.add_option("--shard-bytes", a->shard_bytes, "Maximum tensor bytes per safetensors shard (default 4 GiB)");
      sub.add_flag("--tied", a->tied, "Tie lm_head to the embedding");
      sub.add_flag("--untied", a->untied, "Store a separate lm_head");
      sub.add_flag("--force", a->o.force, "Overwrite a non-empty output directory");
      CLI::App* app = &sub;
      return [a, app] { return run_synth(*a, *app); };
    }}};

}  // namespace
}  // namespace quantscope::cli
