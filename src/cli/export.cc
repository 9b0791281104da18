// quantscope export --format ascend-v1 MODEL --out DIR [--force] [--max-shard-bytes N]
// quantscope export --format gguf MODEL --out FILE.gguf [--type f16|bf16|q8_0|q4_0|q4_1|f32] [--force]
// Writes a quantized (or plain) model in a deployment format; refusals name the tensor and the rule.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cli/command.h"
#include "core/error.h"
#include "interop/ascend_v1_export.h"
#include "interop/gguf_export.h"

namespace quantscope::cli {
namespace {

struct ExportCliOptions {
  std::string format, model, out, type, tokenizer;
  bool force = false;
  uint64_t max_shard_bytes = 0;
};

int run_gguf(const ExportCliOptions& o) {
  GgufExportOptions go;
  go.type = o.type;
  go.tokenizer = o.tokenizer;
  go.force = o.force;
  const GgufExportResult r = export_gguf(o.model, o.out, go);
  fmt::print("architecture {}  {} tensors ({} from quantized codes)  tokenizer metadata: {}\n", r.architecture,
             r.tensor_types.size(), r.quantized_blocks_tensors, r.tokenizer ? "yes" : "none (no llama2.c tokenizer found: tokenizer.ggml.model = \"none\", token ids only)");
  fmt::print("wrote {}\n", o.out);
  return 0;
}

int run_export(const ExportCliOptions& o) {
  if (o.format == "gguf") return run_gguf(o);
  if (!o.type.empty()) fail_input("--type applies to --format gguf only");
  if (o.format != "ascend-v1") fail_input("--format {}: expected ascend-v1 or gguf", o.format);
  AscendV1ExportOptions eo;
  eo.force = o.force;
  eo.max_shard_bytes = o.max_shard_bytes;
  const AscendV1ExportResult r = export_ascend_v1(o.model, o.out, eo);
  fmt::print("model_quant_type {}  group_size {}{}\n", r.model_quant_type, r.group_size, r.kv_c8 ? "  kv_cache_type C8" : "");
  for (const auto& [type, n] : r.linears_by_type) fmt::print("  {:<13} {} linear(s)\n", type, n);
  fmt::print("wrote {} ({} tensor bytes): {}\n", o.out, r.tensor_bytes, fmt::join(r.files, ", "));
  return 0;
}

CommandRegistration reg({"export", "write a (quantized) model in a deployment format (ascend-v1, gguf)", [](CLI::App& app) {
                           auto o = std::make_shared<ExportCliOptions>();
                           app.add_option("--format", o->format, "ascend-v1 (msModelSlim AscendV1) or gguf (llama.cpp)")->required();
                           app.add_option("model", o->model, "quantized directory (or any checkpoint)")->required();
                           app.add_option("--out", o->out, "output directory (ascend-v1) or file (gguf); must not exist unless --force")->required();
                           app.add_option("--type", o->type, "gguf: ggml type of float 2-D weights (default: source dtype)");
                           app.add_option("--tokenizer", o->tokenizer, "gguf: tokenizer file (default: beside the model)");
                           app.add_flag("--force", o->force, "replace an existing output directory");
                           app.add_option("--max-shard-bytes", o->max_shard_bytes, "tensor bytes per shard (0: one file)");
                           return [o] { return run_export(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
