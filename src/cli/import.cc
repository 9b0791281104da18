// quantscope import --format ascend-v1 DIR --out QDIR [--force]
// Converts a deployment-format model into a quantscope quantized directory that every command loads
// (e.g. `quantscope eval --target ascend-910b1 QDIR`).
#include <fmt/format.h>

#include "cli/command.h"
#include "core/error.h"
#include "interop/ascend_v1_import.h"

namespace quantscope::cli {
namespace {

struct ImportCliOptions {
  std::string format, dir, out;
  bool force = false;
};

int run_import(const ImportCliOptions& o) {
  if (o.format != "ascend-v1") fail_input("--format {}: expected ascend-v1", o.format);
  const AscendV1ImportResult r = import_ascend_v1(o.dir, o.out, o.force);
  fmt::print("model_quant_type {}: {} quantized linear(s), {} FLOAT{}\n", r.model_quant_type, r.quantized_linears,
             r.float_linears, r.kv_c8 ? ", C8 KV cache" : "");
  fmt::print("wrote {}\n", o.out);
  return 0;
}

CommandRegistration reg({"import", "convert a deployment-format model (ascend-v1) into a quantized directory",
                         [](CLI::App& app) {
                           auto o = std::make_shared<ImportCliOptions>();
                           app.add_option("--format", o->format, "ascend-v1 (msModelSlim AscendV1)")->required();
                           app.add_option("dir", o->dir, "AscendV1 directory")->required();
                           app.add_option("--out", o->out, "quantized directory to write")->required();
                           app.add_flag("--force", o->force, "replace an existing output directory");
                           return [o] { return run_import(*o); };
                         }});

}  // namespace
}  // namespace quantscope::cli
