// quantscope targets list | show NAME | check RECIPE --target NAME (MODEL | --arch ARCH) [--adapt OUT]
//                  | project (MODEL | --arch ARCH) --recipe R [--target NAME ...] [--context C] [--prefill P]
// The hardware targets (targets/*.json, compiled in): what each runs, which recipes it refuses and why,
// and its roofline projection of a model's speed.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "core/error.h"
#include "core/file_io.h"
#include "model/model.h"
#include "model/synth.h"
#include "quant/recipe.h"
#include "targets/constraints.h"
#include "targets/roofline.h"
#include "targets/target_profile.h"

namespace quantscope::cli {
namespace {

struct TargetsCliOptions {
  std::string name, recipe, target, model, arch, adapt_out, json;
  std::vector<std::string> targets;
  int64_t context = 4096, prefill = 512;
};

// The registry and dtype of a model file, or of a preset architecture (no weights needed).
struct ModelShape {
  ModelConfig config;
  std::vector<TensorSpec> registry;
  DType dtype = DType::BF16;
};

ModelShape model_shape(const TargetsCliOptions& o, const char* cmd) {
  ModelShape s;
  if (!o.model.empty() == !o.arch.empty()) fail_input("targets {}: give a MODEL or --arch ARCH (one of them)", cmd);
  if (!o.arch.empty()) {
    SynthOptions so;
    so.arch = o.arch;
    s.config = synth_config(so);
    s.dtype = synth_dtype(so);
  } else {
    LoadOptions lo;
    lo.check_finite = false;
    const auto m = load_model(o.model, lo);
    s.config = m->config;
    const TensorView* e = m->tensors.find(global_tensor_name(TensorRole::Embedding));
    s.dtype = e ? e->dtype : DType::F32;
  }
  s.registry = build_registry(s.config);
  return s;
}

int run_list() {
  fmt::print("{:<16} {:>10} {:>9} {:>9} {:>9} {:>8}  {}\n", "target", "act dtype", "GB/s", "TFLOP/s", "int8 TOP/s",
             "GiB", "description");
  for (const auto& n : builtin_target_names()) {
    const TargetProfile t = load_target(n);
    fmt::print("{:<16} {:>10} {:>9.1f} {:>9.2f} {:>9.2f} {:>8.1f}  {}\n", t.name, dtype_name(t.activation_dtype),
               t.roofline.memory_bandwidth_gb_s, t.roofline.matmul_tflops, t.roofline.int8_tops, t.roofline.memory_gib,
               t.description);
  }
  return 0;
}

int run_show(const TargetsCliOptions& o) {
  const TargetProfile t = load_target(o.name);
  std::vector<std::string> dts;
  for (DType d : t.activation_dtypes) dts.emplace_back(dtype_name(d));
  fmt::print("{} ({})\n  {}\n", t.name, t.file, t.description);
  fmt::print("activation dtypes: {} (default {}); float matmuls accumulate in {}\n", fmt::join(dts, ", "),
             dtype_name(t.activation_dtype), dtype_name(t.float_accumulation));
  fmt::print("activation quantization: rounding {}, static scale {}, dynamic scale {}{}\n",
             t.act_rounding_from_recipe ? std::string("as the recipe") : std::string(rounding_name(t.act_rounding)),
             t.act_static_apply, t.act_dynamic_apply, t.act_int8_via_half ? ", fp32 -> int32 -> half -> int8" : "");
  fmt::print("W8A8 dequant scale: fp16 output {}, bf16 output {}; weight-only scales in {}\n", t.deq_scale_f16_output,
             t.deq_scale_bf16_output, t.weight_scale_dtype);
  if (t.activation_block_quant) fmt::print("activations of quantized matmuls: 8-bit blocks of {}\n", t.activation_block_quant);
  if (t.any_scheme) fmt::print("schemes: every scheme quantscope implements\n");
  for (const auto& k : t.schemes) {
    std::string g = fmt::format("{}", fmt::join(k.granularity, "/"));
    if (!k.group_sizes.empty()) g += fmt::format(" (groups {})", fmt::join(k.group_sizes, "/"));
    else if (std::find(k.granularity.begin(), k.granularity.end(), "group") != k.granularity.end())
      g += fmt::format(" (groups: multiple of {}, >= {})", k.group_multiple, k.group_min);
    fmt::print("  {}: w{} {}{}{}\n", k.name, fmt::join(k.w_bits, "/"), g, k.symmetric_only ? " symmetric" : "",
               k.a_bits ? fmt::format(", a{} per-{}", k.a_bits, fmt::join(k.activation, "/per-")) : std::string(", weight-only"));
  }
  std::vector<std::string> kv;
  for (const auto& r : t.kv_cache) kv.push_back(fmt::format("int{} per {}", r.bits, r.granularity));
  fmt::print("KV cache: {}\n", kv.empty() ? std::string("not quantized") : fmt::format("{}", fmt::join(kv, ", ")));
  fmt::print("roofline: {:.1f} GB/s, {:.2f} TFLOP/s matmul, {:.2f} TOP/s int8, {:.2f} TOP/s int4, {:.1f} GiB\n",
             t.roofline.memory_bandwidth_gb_s, t.roofline.matmul_tflops, t.roofline.int8_tops, t.roofline.int4_tops,
             t.roofline.memory_gib);
  fmt::print("sources:\n");
  for (const auto& [k, v] : t.sources) fmt::print("  {}: {}\n", k, v);
  return 0;
}

int run_check(const TargetsCliOptions& o) {
  const TargetProfile t = load_target(o.target);
  const Recipe r = read_recipe(o.recipe);
  const ModelShape ms = model_shape(o, "check");
  const auto tensors = resolve_recipe(r, ms.registry);
  if (std::find(t.activation_dtypes.begin(), t.activation_dtypes.end(), ms.dtype) == t.activation_dtypes.end() &&
      ms.dtype != DType::F32)
    fmt::print("note: {} has no {}; the model runs with {} activations there\n", t.name, dtype_name(ms.dtype),
               dtype_name(t.activation_dtype));
  const auto v = check_recipe(tensors, r.kv_cache, t);
  for (const auto& e : v) fmt::print("REFUSED {}: {}; nearest supported: {}\n", e.tensor, e.rule, e.nearest);
  if (!o.adapt_out.empty()) {
    std::vector<std::string> changes;
    const nlohmann::json adapted = adapt_recipe(r, tensors, t, &changes);
    for (const auto& c : changes) fmt::print("adapt: {}\n", c);
    write_file_atomic(o.adapt_out, adapted.dump(2) + "\n");
    // The adapted recipe must itself pass (or the adaptation is wrong).
    const Recipe r2 = parse_recipe(adapted.dump(), o.adapt_out);
    require_target_runs(resolve_recipe(r2, ms.registry), r2.kv_cache, t);
    fmt::print("wrote {} ({} change{}); {} runs it\n", o.adapt_out, changes.size(), changes.size() == 1 ? "" : "s", t.name);
    return 0;
  }
  if (v.empty()) {
    fmt::print("{} runs every tensor of {} ({} weight matrices{})\n", t.name, o.recipe, tensors.size(),
               r.kv_cache.enabled() ? ", and its KV cache" : "");
    return 0;
  }
  fmt::print("{} refuses {} of {} entries of {} (--adapt OUT.json writes the nearest recipe it runs)\n", t.name, v.size(),
             tensors.size() + (r.kv_cache.enabled() ? 1 : 0), o.recipe);
  return 2;
}

int run_project(const TargetsCliOptions& o) {
  const Recipe r = read_recipe(o.recipe);
  const ModelShape ms = model_shape(o, "project");
  const auto tensors = resolve_recipe(r, ms.registry);
  std::vector<std::string> names = o.targets.empty() ? builtin_target_names() : o.targets;
  fmt::print("{} under {}: decode at context {}, prefill of {} tokens (roofline bounds, not measurements)\n",
             o.model.empty() ? o.arch : o.model, o.recipe, o.context, o.prefill);
  fmt::print("{:<16} {:>6} {:>10} {:>9} {:>9} {:>11} {:>8} {:>11} {:>8} {:>10} {:>5}  {}\n", "target", "act", "weights MB",
             "KV MB", "act MB", "GFLOP/tok", "decode", "bound", "prefill", "bound", "fits", "refused");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& n : names) {
    const TargetProfile t = load_target(n);
    const TargetStorage storage = target_storage(t, ms.dtype);
    ProjectionOptions po = storage.options;
    po.context = o.context;
    po.prefill_tokens = o.prefill;
    const DType weight_dtype = storage.weight_dtype;
    const Projection p = project(ms.config, weight_dtype, tensors, r.kv_cache, t, po);
    const auto refused = check_recipe(tensors, r.kv_cache, t);
    fmt::print("{:<16} {:>6} {:>10.1f} {:>9.1f} {:>9.2f} {:>11.3f} {:>8.1f} {:>11} {:>8.0f} {:>10} {:>5}  {}\n", t.name,
               dtype_name(po.activation_dtype), p.decode.weight_bytes / 1e6, p.decode.kv_bytes / 1e6,
               p.decode.activation_bytes / 1e6, p.decode.flops / 1e9, p.decode_tok_s, p.decode_bound, p.prefill_tok_s,
               p.prefill_bound, p.fits ? "yes" : "NO", refused.empty() ? std::string("-") : fmt::format("{} tensors", refused.size()));
    out.push_back({{"target", t.name}, {"activation_dtype", dtype_name(po.activation_dtype)},
                   {"weight_bytes_per_token", p.decode.weight_bytes}, {"kv_bytes_per_token", p.decode.kv_bytes},
                   {"activation_bytes_per_token", p.decode.activation_bytes}, {"flops_per_token", p.decode.flops},
                   {"decode_tok_s", p.decode_tok_s}, {"decode_bound", p.decode_bound}, {"prefill_tok_s", p.prefill_tok_s},
                   {"prefill_bound", p.prefill_bound}, {"memory_needed_bytes", p.memory_needed_bytes}, {"fits", p.fits},
                   {"refused_tensors", refused.size()}});
  }
  fmt::print("tok/s columns are upper bounds from each target's roofline (targets show NAME gives the sources);\n"
             "a refused recipe would not run there as is (targets check --adapt).\n");
  if (!o.json.empty()) write_file_atomic(o.json, out.dump(2) + "\n");
  return 0;
}

CommandRegistration reg({"targets", "hardware targets: list, show, check a recipe, project speed", [](CLI::App& app) {
  auto o = std::make_shared<TargetsCliOptions>();
  app.require_subcommand(1);
  app.add_subcommand("list", "the built-in targets");
  CLI::App* show = app.add_subcommand("show", "everything a target profile declares, with sources");
  show->add_option("name", o->name, "target name or profile file")->required();
  CLI::App* check = app.add_subcommand("check", "refuse what a target cannot run (exit 2), naming tensor and rule");
  check->add_option("recipe", o->recipe, "recipe JSON")->required();
  check->add_option("model", o->model, "model checkpoint (or --arch)");
  check->add_option("--arch", o->arch, "a preset architecture instead of a model: " + fmt::format("{}", fmt::join(synth_arch_names(), ", ")));
  check->add_option("--target", o->target, "target name or profile file")->required();
  check->add_option("--adapt", o->adapt_out, "write the nearest recipe the target runs to this file");
  CLI::App* project = app.add_subcommand("project", "roofline projection of prefill and decode speed, per target");
  project->add_option("model", o->model, "model checkpoint (or --arch)");
  project->add_option("--arch", o->arch, "a preset architecture instead of a model");
  project->add_option("--recipe", o->recipe, "recipe JSON")->required();
  project->add_option("--target", o->targets, "targets (default: all built-in)");
  project->add_option("--context", o->context, "decode context length (tokens in the KV cache)");
  project->add_option("--prefill", o->prefill, "prefill prompt length");
  project->add_option("--json", o->json, "write the projections as JSON");
  return [o, &app]() -> int {
    if (app.got_subcommand("list")) return run_list();
    if (app.got_subcommand("show")) return run_show(*o);
    if (app.got_subcommand("project")) return run_project(*o);
    return run_check(*o);
  };
}});

}  // namespace
}  // namespace quantscope::cli
