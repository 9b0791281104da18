// quantscope bench --host: this machine's roofline (memory bandwidth, peak fp32 FMA and int8
// dot-product rates, 1 thread and all threads), so later results can be printed as a fraction of it.
//
// Only --host is implemented. `bench MODEL ...` (timing a model's forward pass) is meant to be added
// beside it: give BenchOptions the model options (cli/model_options.h), register them in setup_bench,
// and dispatch in run_bench; the host part stays in run_bench_host.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>

#include "cli/command.h"
#include "core/error.h"
#include "core/parallel.h"
#include "kernels/host_probe.h"

namespace quantscope::cli {
namespace {

enum class OutputFormat { Table, Json, Csv };

struct BenchOptions {
  bool host = false;
  HostProbeOptions host_probe;
  int threads = 0;  // 0 = all hardware threads
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
int run_bench_host(const HostProbeOptions& options, OutputFormat format) {
  const HostReport r = run_host_probe(options);
  if (r.last_level_cache_bytes > 0 && r.bytes < 8 * r.last_level_cache_bytes)
    fmt::print(stderr, "quantscope: warning: --host-bytes {} is less than 8x the {} byte last-level cache: "
                       "bandwidth figures include cache hits\n", r.bytes, r.last_level_cache_bytes);
  switch (format) {
    case OutputFormat::Json: print_json(r); break;
    case OutputFormat::Csv: print_csv(r); break;
    case OutputFormat::Table: print_table(r); break;
  }
  return 0;
}

int run_bench(const BenchOptions& o) {
  if (o.threads > 0) set_num_threads(o.threads);
  const OutputFormat format = o.json ? OutputFormat::Json : o.csv ? OutputFormat::Csv : OutputFormat::Table;
  if (!o.host) fail_input("bench: give --host (benchmarking a model is not implemented yet)");
  return run_bench_host(o.host_probe, format);
}

std::function<int()> setup_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  app.add_flag("--host", o->host, "measure this machine's roofline: memory bandwidth, peak fp32 FMA and int8 rates");
  app.add_option("--host-bytes", o->host_probe.bytes,
                 "bytes of the read array; triad uses 3 arrays of a third each (default 1 GiB; e.g. 2GiB)")
      ->transform(CLI::AsSizeValue(true));
  app.add_option("--host-seconds", o->host_probe.peak_seconds,
                 "target seconds of one repetition of a peak-rate kernel (default 0.1)")
      ->check(CLI::Range(1e-4, 10.0));
  app.add_option("-r,--repetitions", o->host_probe.repetitions, "repetitions; the best is reported (default 5)")
      ->check(CLI::Range(1, 1000));
  app.add_option("-t,--threads", o->threads, "threads of the 'all threads' figures (default: all)")
      ->check(CLI::NonNegativeNumber);
  auto* json = app.add_flag("--json", o->json, "print JSON");
  auto* csv = app.add_flag("--csv", o->csv, "print CSV");
  json->excludes(csv);
  return [o] { return run_bench(*o); };
}

CommandRegistration reg({"bench", "benchmark this machine (--host: memory bandwidth, peak fp32/int8 rates)", setup_bench});

}  // namespace
}  // namespace quantscope::cli
