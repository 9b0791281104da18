// quantscope bench --host: this machine's roofline (memory bandwidth, peak fp32 FMA and int8
// dot-product rates, 1 thread and all threads), so later results can be printed as a fraction of it.
//
// quantscope bench MODEL|--synthetic ARCH [--recipe R] -p 512 -n 128 -r 3: prefill and decode speed of a
// model (run_bench_model), with the weights it streams per decoded token and peak RSS.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "core/build_info.h"
#include "cli/command.h"
#include "cli/model_options.h"
#include "core/error.h"
#include "core/parallel.h"
#include "eval/throughput.h"
#include "kernels/gemm.h"
#include "kernels/host_probe.h"
#include "model/synth.h"
#include "quant/quantize_model.h"
#include "quant/recipe.h"
#include "targets/target_profile.h"
#include "targets/target_run.h"

namespace quantscope::cli {
namespace {

enum class OutputFormat { Table, Json, Csv };

struct BenchOptions {
  bool host = false;
  ModelOptions model;
  std::string synthetic;  // preset name: a synthetic checkpoint written once under the temp directory
  std::string recipe;     // RTN-only recipe applied in memory before timing
  ThroughputOptions tp;
  HostProbeOptions host_probe;
  int threads = 0;  // 0 = all hardware threads
  // After a model's runs (and after its peak RSS is read): the read bandwidth probe once more, beside
  // them, so decode's GB/s can be set against the bandwidth of the same minutes (--read-probe).
  bool read_probe = false;
  bool json = false;
  bool csv = false;
};

constexpr const char* kConventions =
    "GB/s = 1e9 bytes/s; read counts 4 B per fp32 element; triad a=b+s*c counts 3 arrays (12 B per "
    "element, STREAM convention: the write-allocate read of a is NOT counted, DRAM traffic is 4/3 of "
    "the figure); 1 FMA = 2 flops; 1 int8 multiply-accumulate = 2 ops";

// The best figure per probe for 1 thread and for all threads: the roofline later results refer to.
nlohmann::json roofline(const HostReport& r) {
  nlohmann::json j = nlohmann::json::object();
  for (const HostMeasurement& m : r.results) {
    auto& p = j[m.probe];
    p["unit"] = m.unit;
    const char* key = m.threads == 1 ? "1_thread" : "all_threads";
    if (!p.contains(key) || p[key]["rate"].get<double>() < m.rate)
      p[key] = {{"rate", m.rate}, {"kernel", m.isa}, {"threads", m.threads}};
  }
  for (auto& p : j)  // with one thread, "all threads" is the 1-thread run
    if (!p.contains("all_threads") && p.contains("1_thread")) p["all_threads"] = p["1_thread"];
  return j;
}

void print_json(const HostReport& r) {
  nlohmann::json j;
  j["cpu_model"] = r.cpu_model;
  j["threads"] = r.threads;
  j["hardware_threads"] = r.hardware_threads;
  j["isas"] = r.isas;
  j["active_isa"] = r.active_isa;
  j["features"] = r.features;
  j["last_level_cache_bytes"] = r.last_level_cache_bytes;
  j["read_array_bytes"] = r.bytes;
  j["triad_array_bytes"] = r.triad_array_bytes;
  j["repetitions"] = r.repetitions;
  j["wall_seconds"] = r.seconds;
  j["conventions"] = {{"GB/s", "1e9 bytes per second"},
                      {"GFLOP/s", "1e9 flops per second, 1 FMA = 2 flops"},
                      {"GOPS", "1e9 ops per second, 1 int8 multiply-accumulate = 2 ops"},
                      {"read_bytes_per_element", 4},
                      {"triad_bytes_per_element", 12},
                      {"triad_write_allocate_counted", false},
                      {"text", kConventions}};
  nlohmann::json results = nlohmann::json::array();
  for (const HostMeasurement& m : r.results)
    results.push_back({{"probe", m.probe},
                       {"kernel", m.isa},
                       {"threads", m.threads},
                       {"rate", m.rate},
                       {"unit", m.unit},
                       {"best_seconds", m.best_seconds},
                       {"work_per_repetition", m.work},
                       {"work_unit", m.work_unit},
                       {"iterations_per_thread", m.iterations},
                       {"verified", m.verified}});
  j["results"] = results;
  j["roofline"] = roofline(r);
  fmt::print("{}\n", j.dump(2));
}

void print_csv(const HostReport& r) {
  fmt::print("probe,kernel,threads,rate,unit,best_seconds,work_per_repetition,work_unit,iterations_per_thread,verified\n");
  for (const HostMeasurement& m : r.results)
    fmt::print("{},{},{},{:.6g},{},{:.6g},{:.17g},{},{},{}\n", m.probe, m.isa, m.threads, m.rate, m.unit, m.best_seconds,
               m.work, m.work_unit, m.iterations, m.verified ? "true" : "false");
}

void print_table(const HostReport& r) {
  const double gib = 1024.0 * 1024.0 * 1024.0, mib = 1024.0 * 1024.0;
  fmt::print("cpu          {}\n", r.cpu_model);
  fmt::print("threads      1 and {} (all; {} hardware threads)\n", r.threads, r.hardware_threads);
  fmt::print("isa          {} (memory probes use {})\n", fmt::join(r.isas, " "), r.active_isa);
  fmt::print("features     {}\n", fmt::join(r.features, " "));
  if (r.last_level_cache_bytes > 0)
    fmt::print("arrays       read {:.2f} GiB, triad 3 x {:.2f} MiB; last-level cache {:.1f} MiB (read array = {:.0f}x)\n",
               double(r.bytes) / gib, double(r.triad_array_bytes) / mib, double(r.last_level_cache_bytes) / mib,
               double(r.bytes) / double(r.last_level_cache_bytes));
  else
    fmt::print("arrays       read {:.2f} GiB, triad 3 x {:.2f} MiB; last-level cache unknown\n", double(r.bytes) / gib,
               double(r.triad_array_bytes) / mib);
  fmt::print("conventions  {}; best of {} repetitions\n\n", kConventions, r.repetitions);
  fmt::print("{:<9} {:<11} {:>7} {:>10} {:<8} {:>9} {:>10} {:<7} {}\n", "probe", "kernel", "threads", "rate", "unit",
             "best s", "work/rep", "", "checked");
  for (const HostMeasurement& m : r.results)
    fmt::print("{:<9} {:<11} {:>7} {:>10.2f} {:<8} {:>9.5f} {:>10.3f} G{:<6} {}\n", m.probe, m.isa, m.threads, m.rate, m.unit,
               m.best_seconds, m.work / 1e9, m.work_unit, m.verified ? "yes" : "NO");
  fmt::print("\n(probe time {:.1f} s)\n", r.seconds);
}

// The host roofline: every probe, printed in one format.
// The read (and triad) arrays of `bytes` against the last-level cache of `llc` bytes (0: unknown): below
// 8x, part of what the probes read comes from the cache, and the figure says more than memory can.
void warn_if_array_fits_cache(uint64_t bytes, uint64_t llc) {
  if (llc > 0 && bytes < 8 * llc)
    fmt::print(stderr, "quantscope: warning: --host-bytes {} is less than 8x the {} byte last-level cache: "
                       "bandwidth figures include cache hits\n", bytes, llc);
}

int run_bench_host(const HostProbeOptions& options, OutputFormat format) {
  const HostReport r = run_host_probe(options);
  warn_if_array_fits_cache(r.bytes, r.last_level_cache_bytes);
  switch (format) {
    case OutputFormat::Json: print_json(r); break;
    case OutputFormat::Csv: print_csv(r); break;
    case OutputFormat::Table: print_table(r); break;
  }
  return 0;
}

long peak_rss_kib() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

int run_bench_model(BenchOptions o, OutputFormat format) {
  if (!o.synthetic.empty()) {
    if (!o.model.model.empty()) fail_input("bench: give a MODEL or --synthetic, not both");
    SynthOptions so;
    so.arch = o.synthetic;
    const std::string dir = (std::filesystem::temp_directory_path() / ("quantscope-synthetic-" + o.synthetic)).string();
    if (!std::filesystem::exists(dir + "/config.json")) {
      fmt::print(stderr, "writing synthetic {} to {} (once)\n", o.synthetic, dir);
      so.force = true;
      write_synthetic_checkpoint(so, dir);
    }
    o.model.model = dir;
  }
  if (o.model.model.empty()) fail_input("bench: give a MODEL, --synthetic ARCH or --host");
  // A target applies after an in-memory recipe, so the linears it wraps are the quantized ones.
  ModelOptions untargeted = o.model;
  untargeted.target.clear();
  OpenedModel m = open_model(untargeted);
  std::string scheme = "as stored";
  if (!o.recipe.empty()) {
    const Recipe r = read_recipe(o.recipe);
    const auto plan = resolve_recipe(r, m.model->registry);
    QuantizeOptions qo;
    qo.progress = false;
    m.model->kv_quant = r.kv_cache;
    quantize_model(*m.model, plan, nullptr, qo);  // calibration-free methods only (InputError otherwise)
    scheme = o.recipe;
  }
  if (!o.model.target.empty()) apply_target(*m.model, load_target(o.model.target));
  const ThroughputResult t = measure_throughput(*m.model, o.tp);
  const long rss = peak_rss_kib();
  // The probe's array (1 GiB by default) is allocated only now, after the peak RSS is read.
  constexpr int kReadProbeReps = HostProbeOptions{}.repetitions;  // as `bench --host`: best of 5
  std::optional<HostMeasurement> read;
  if (o.read_probe) {
    read = measure_read_bandwidth(o.host_probe.bytes, num_threads(), kReadProbeReps);
    warn_if_array_fits_cache(o.host_probe.bytes, last_level_cache_bytes());
  }
  const double decode_of_read = read ? t.decode_gb_s / read->rate : 0.0;
  nlohmann::json j;
  j["model"] = m.model->path;
  j["synthetic"] = m.model->config.synthetic;
  j["recipe"] = scheme;
  j["target"] = o.model.target.empty() ? "host" : o.model.target;
  j["prompt_tokens"] = o.tp.prompt;
  j["gen_tokens"] = o.tp.gen;
  j["repetitions"] = o.tp.repetitions;
  j["threads"] = num_threads();
  j["isa"] = isa_name(active_isa());
  j["cpu_model"] = cpu_model_name();
  j["commit"] = build_commit();
  // The GEMM's cache blocking comes from this CPU's cache sizes: recorded so prefill figures of two
  // machines can be told apart by it.
  j["gemm_blocking"] = {{"panel_bytes", gemm_blocking().panel_bytes},
                        {"avx512_chunks_per_pass", gemm_blocking().chunks_per_pass_avx512},
                        {"avx2_chunks_per_pass", gemm_blocking().chunks_per_pass_avx2},
                        {"lane_steps_per_pass", gemm_blocking().lane_steps_per_pass}};
  auto stats = [](const RunStats& s) {
    return nlohmann::json{{"median", s.median()}, {"min", s.min()}, {"max", s.max()}, {"samples", s.samples}};
  };
  j["prefill_tok_s"] = stats(t.prefill_tok_s);
  j["decode_tok_s"] = stats(t.decode_tok_s);
  j["time_to_first_token_s"] = stats(t.ttft_s);
  j["weight_bytes"] = t.weight_bytes;
  j["streamed_weight_bytes_per_token"] = t.streamed_weight_bytes;
  j["kv_bytes_per_token_read"] = t.kv_bytes_per_token_read;
  j["decode_GB_s"] = t.decode_gb_s;
  j["prefill_flops"] = t.prefill_flops;
  j["kv_cache_bytes"] = t.kv_cache_bytes;
  j["prefill_GFLOP_s"] = t.prefill_gflop_s;
  j["peak_rss_bytes"] = uint64_t(rss) * 1024;
  if (read) {
    j["read_probe"] = {{"GB_s", read->rate}, {"bytes", o.host_probe.bytes}, {"threads", read->threads},
                       {"repetitions", kReadProbeReps}, {"isa", read->isa}};
    j["decode_of_read_probe"] = decode_of_read;
  }
  if (format == OutputFormat::Json) {
    fmt::print("{}\n", j.dump(2));
  } else if (format == OutputFormat::Csv) {
    fmt::print("model,recipe,threads,isa,prompt,gen,prefill_tok_s,decode_tok_s,ttft_s,weight_bytes,decode_GB_s,peak_rss_bytes,"
               "read_probe_GB_s,decode_of_read_probe\n");
    fmt::print("{},{},{},{},{},{},{:.4f},{:.4f},{:.4f},{},{:.4f},{},{},{}\n", m.model->path, scheme, num_threads(),
               isa_name(active_isa()), o.tp.prompt, o.tp.gen, t.prefill_tok_s.median(), t.decode_tok_s.median(),
               t.ttft_s.median(), t.weight_bytes, t.decode_gb_s, uint64_t(rss) * 1024,
               read ? fmt::format("{:.4f}", read->rate) : "", read ? fmt::format("{:.4f}", decode_of_read) : "");
  } else {
    fmt::print("model        {}{}\n", m.model->path, m.model->config.synthetic ? "  (SYNTHETIC weights)" : "");
    fmt::print("weights      {} ({:.1f} MiB; {:.1f} MiB streamed per decoded token), recipe {}\n", t.weight_bytes,
               double(t.weight_bytes) / 1048576.0, double(t.streamed_weight_bytes) / 1048576.0, scheme);
    fmt::print("cpu          {}, {} threads, isa {}, commit {}; numerics of target {}\n", cpu_model_name(), num_threads(),
               isa_name(active_isa()), build_commit(), o.model.target.empty() ? "host" : o.model.target);
    fmt::print("prefill      {} tokens: {:.2f} tok/s median (min {:.2f}, max {:.2f}); time to first token {:.3f} s; "
               "{:.1f} GFLOP/s\n",
               o.tp.prompt, t.prefill_tok_s.median(), t.prefill_tok_s.min(), t.prefill_tok_s.max(), t.ttft_s.median(),
               t.prefill_gflop_s);
    fmt::print("decode       {} tokens: {:.2f} tok/s median (min {:.2f}, max {:.2f}); {:.2f} GB/s of weights + KV\n",
               o.tp.gen, t.decode_tok_s.median(), t.decode_tok_s.min(), t.decode_tok_s.max(), t.decode_gb_s);
    fmt::print("peak RSS     {:.1f} MiB ({} repetitions after {} warm-up)\n", double(rss) / 1024.0, o.tp.repetitions,
               o.tp.warmup);
    if (read)
      fmt::print("read BW      {:.2f} GB/s measured after the runs ({} MiB, {} threads, best of {}): decode at {:.0f}% of it\n",
                 read->rate, o.host_probe.bytes >> 20, read->threads, kReadProbeReps, 100.0 * decode_of_read);
  }
  return 0;
}

int run_bench(const BenchOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const OutputFormat format = o.json ? OutputFormat::Json : o.csv ? OutputFormat::Csv : OutputFormat::Table;
  if (!o.host) return run_bench_model(o, format);
  return run_bench_host(o.host_probe, format);
}

std::function<int()> setup_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto* host =
      app.add_flag("--host", o->host, "measure this machine's roofline: memory bandwidth, peak fp32 FMA and int8 rates");
  app.add_option("--host-bytes", o->host_probe.bytes,
                 "bytes of the read array; triad uses 3 arrays of a third each (default 1 GiB; e.g. 2GiB)")
      ->transform(CLI::AsSizeValue(true));
  app.add_option("--host-seconds", o->host_probe.peak_seconds,
                 "target seconds of one repetition of a peak-rate kernel (default 0.1)")
      ->check(CLI::Range(1e-4, 10.0));
  app.add_option("-r,--repetitions", o->host_probe.repetitions,
                 "repetitions (--host: the best is reported, default 5; a model: medians, default 3)")
      ->check(CLI::Range(1, 1000));
  app.add_option("model", o->model.model, "model to time (llama2.c .bin, HF directory, GGUF, quantized directory)");
  app.add_option("--tokenizer", o->model.tokenizer, "tokenizer file (not needed: the tokens are random ids)");
  app.add_flag("--no-mmap", o->model.no_mmap, "read weights into memory instead of memory-mapping them");
  app.add_option("--synthetic", o->synthetic, "time a synthetic checkpoint of this preset (written once to the temp dir)");
  app.add_option("--recipe", o->recipe, "quantize in memory first by this recipe (calibration-free methods)");
  add_target_option(app, o->model);
  auto* read_probe = app.add_flag("--read-probe", o->read_probe,
                                  "after timing a model, measure the read bandwidth beside it (--host-bytes, default "
                                  "1 GiB, allocated after peak RSS is read) and give decode's GB/s as a fraction of it");
  app.add_option("-p,--prompt", o->tp.prompt, "prefill tokens (default 512)")->check(CLI::Range(0, 1 << 20));
  app.add_option("-n,--gen", o->tp.gen, "decoded tokens (default 128)")->check(CLI::Range(0, 1 << 20));
  app.add_option("-t,--threads", o->threads, "threads of the 'all threads' figures (default: all)")
      ->check(CLI::NonNegativeNumber);
  read_probe->excludes(host);  // --host measures the read bandwidth itself
  auto* json = app.add_flag("--json", o->json, "print JSON");
  auto* csv = app.add_flag("--csv", o->csv, "print CSV");
  json->excludes(csv);
  return [o] {
    if (!o->host) o->tp.repetitions = o->host_probe.repetitions == HostProbeOptions{}.repetitions ? 3 : o->host_probe.repetitions;
    return run_bench(*o);
  };
}

CommandRegistration reg({"bench", "time a model's prefill and decode, or (--host) this machine's roofline", setup_bench});

}  // namespace
}  // namespace quantscope::cli
