#include "kernels/host_probe.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include <unistd.h>

#include "core/error.h"
#include "core/parallel.h"

namespace quantscope {

namespace {

bool cpu_supports(Isa isa) {
  const auto v = supported_isas();
  return std::find(v.begin(), v.end(), isa) != v.end();
}

void require_isa(Isa isa) {
  if (!cpu_supports(isa)) fail_input("host probe: ISA {} is not supported by this CPU", isa_name(isa));
}

// Results land here so that nothing a probe computes is dead, whatever the caller does with it.
volatile double g_sink = 0;

float read_sum_scalar(const float* x, int64_t n, int64_t* elements) {
  std::array<float, 64> acc{};
  int64_t counted = 0;
  for (int64_t i = 0; i < n; ++i) {
    acc[size_t(i & 63)] += x[i];
    ++counted;
  }
  for (int w = 32; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[size_t(l)] += acc[size_t(l + w)];
  *elements = counted;
  return acc[0];
}

int64_t triad_scalar(float* a, const float* b, const float* c, float s, int64_t n) {
  int64_t counted = 0;
  for (int64_t i = 0; i < n; ++i) {
    a[i] = b[i] + s * c[i];  // not std::fma: without -mfma that is a library call, not memory-bound
    ++counted;
  }
  return counted;
}

int64_t fma_peak_scalar(int64_t iters, float mul, float add, const float* init, float* out) {
  std::array<float, kFmaAccumulators> acc;
  for (int k = 0; k < kFmaAccumulators; ++k) acc[size_t(k)] = init[k];
  int64_t fmas = 0;
  for (int64_t it = 0; it < iters; ++it) {
    for (auto& a : acc) a = std::fma(a, mul, add);
    fmas += kFmaAccumulators;
  }
  for (int k = 0; k < kFmaAccumulators; ++k) out[k] = acc[size_t(k)];
  return fmas;
}

// ---- timing --------------------------------------------------------------------------------------

struct Timing {
  double best_seconds = 0;
  int64_t work = 0;  // summed over threads, in the best repetition
  int threads = 1;   // threads that actually ran
};

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Runs fn(thread, nthreads) -> work on `threads` OpenMP threads, `reps` times; each repetition is
// timed from a barrier before the first thread starts to a barrier after the last one finishes.
template <typename Fn>
Timing time_best(int threads, int reps, const Fn& fn) {
  std::vector<int64_t> work(static_cast<size_t>(threads), 0);
  std::vector<double> seconds(static_cast<size_t>(reps), 0.0);
  std::vector<int64_t> rep_work(static_cast<size_t>(reps), 0);
  int actual = 1;
  double start = 0;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    actual = nt;
    for (int r = 0; r < reps; ++r) {
#pragma omp barrier
#pragma omp single
      start = now_seconds();
      work[size_t(t)] = fn(t, nt);
#pragma omp barrier
#pragma omp single
      {
        seconds[size_t(r)] = now_seconds() - start;
        int64_t w = 0;
        for (int i = 0; i < nt; ++i) w += work[size_t(i)];
        rep_work[size_t(r)] = w;
      }
    }
  }
  Timing tm;
  tm.threads = actual;
  size_t best = 0;
  for (size_t r = 1; r < seconds.size(); ++r)
    if (seconds[r] < seconds[best]) best = r;
  tm.best_seconds = std::max(seconds[best], 1e-9);
  tm.work = rep_work[best];
  return tm;
}

// [begin, end) of thread t of nt over n elements, boundaries on 16-element (64-byte) multiples.
std::pair<int64_t, int64_t> chunk(int64_t n, int t, int nt) {
  const int64_t blocks = n / 16;
  const int64_t b = blocks * t / nt * 16;
  const int64_t e = t == nt - 1 ? n : blocks * (t + 1) / nt * 16;
  return {b, e};
}

// The read array's values: lane i mod 64 sees +v, -v, +v, ... (v = 1..7 from i mod 64, the sign from
// bit 6), so every fp32 partial sum is a small integer, exact on every ISA and thread split.
float pattern(int64_t i) {
  const float v = float((i & 63) % 7 + 1);
  return ((i >> 6) & 1) ? -v : v;
}

double pattern_sum(int64_t n) {  // each 128-element period sums to 0
  double s = 0;
  for (int64_t i = n - n % 128; i < n; ++i) s += pattern(i);
  return s;
}

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using ProbeArray = std::unique_ptr<float, FreeDeleter>;

// The memory probes' array of n floats, page-aligned; `who` names the probe and its option in messages.
ProbeArray allocate_probe_array(int64_t n, const char* who) {
  ProbeArray a(static_cast<float*>(std::aligned_alloc(4096, (size_t(n) * sizeof(float) + 4095) / 4096 * 4096)));
  if (!a) fail_input("{}: cannot allocate {} bytes", who, uint64_t(n) * sizeof(float));
  return a;
}

HostMeasurement make(std::string probe, std::string isa, const Timing& tm, double work_scale, std::string unit,
                     std::string work_unit, int64_t iterations, bool verified) {
  HostMeasurement m;
  m.probe = std::move(probe);
  m.isa = std::move(isa);
  m.threads = tm.threads;
  m.best_seconds = tm.best_seconds;
  m.work = double(tm.work) * work_scale;
  m.rate = m.work / tm.best_seconds / 1e9;
  m.unit = std::move(unit);
  m.work_unit = std::move(work_unit);
  m.iterations = iterations;
  m.verified = verified;
  return m;
}

// Iterations per thread so that one single-thread repetition of run(iters) takes about `seconds`.
template <typename Run>
int64_t calibrate(double seconds, const Run& run) {
  int64_t iters = 256;
  for (;;) {
    const double t0 = now_seconds();
    run(iters);
    const double dt = now_seconds() - t0;
    if (dt >= seconds / 8 || iters >= (int64_t(1) << 40)) {
      const double scaled = double(iters) * seconds / std::max(dt, 1e-9);
      return std::max<int64_t>(1, int64_t(std::min(scaled, 1e13)));
    }
    iters *= 4;
  }
}

// The read array's values, first touched by the same static split the all-thread probes use.
void fill_read_pattern(float* x, int64_t n, int threads) {
#pragma omp parallel num_threads(threads)
  {
    const auto [b, e] = chunk(n, omp_get_thread_num(), omp_get_num_threads());
    for (int64_t i = b; i < e; ++i) x[i] = pattern(i);
  }
}

// The read probe on a filled array: x[0 .. n) summed by `threads` threads (static split), best of reps;
// the sum is checked against the pattern's closed form.
HostMeasurement read_probe(const float* x, int64_t n, int threads, int reps, Isa isa) {
  std::vector<double> sums(static_cast<size_t>(threads), 0.0);
  const Timing tm = time_best(threads, reps, [&](int t, int nt) {
    const auto [b, e] = chunk(n, t, nt);
    int64_t elements = 0;
    sums[size_t(t)] = probe_read_sum(isa, x + b, e - b, &elements);
    return elements;
  });
  double total = 0;
  for (int t = 0; t < tm.threads; ++t) total += sums[size_t(t)];
  g_sink = g_sink + total;
  const double expected_sum = pattern_sum(n);
  const bool ok = total == expected_sum && tm.work == n;
  if (!ok) fail_internal("host probe: read sum {} over {} elements, expected {} over {}", total, tm.work, expected_sum, n);
  return make("read", std::string(isa_name(isa)), tm, double(sizeof(float)), "GB/s", "bytes", 0, ok);
}
}  // namespace

// ---- kernels -------------------------------------------------------------------------------------

float probe_read_sum(Isa isa, const float* x, int64_t n, int64_t* elements) {
  require_isa(isa);
  switch (isa) {
    case Isa::Avx512: return detail::read_sum_avx512(x, n, elements);
    case Isa::Avx2: return detail::read_sum_avx2(x, n, elements);
    case Isa::Scalar: break;
  }
  return read_sum_scalar(x, n, elements);
}

int64_t probe_triad(Isa isa, float* a, const float* b, const float* c, float s, int64_t n) {
  require_isa(isa);
  switch (isa) {
    case Isa::Avx512: return detail::triad_avx512(a, b, c, s, n);
    case Isa::Avx2: return detail::triad_avx2(a, b, c, s, n);
    case Isa::Scalar: break;
  }
  return triad_scalar(a, b, c, s, n);
}

int fma_probe_lanes(Isa isa) { return isa == Isa::Avx512 ? 16 : isa == Isa::Avx2 ? 8 : 1; }
int fma_probe_floats(Isa isa) { return kFmaAccumulators * fma_probe_lanes(isa); }

int64_t probe_fma(Isa isa, int64_t iters, float mul, float add, const float* init, float* out) {
  require_isa(isa);
  switch (isa) {
    case Isa::Avx512: return detail::fma_peak_avx512(iters, mul, add, init, out);
    case Isa::Avx2: return detail::fma_peak_avx2(iters, mul, add, init, out);
    case Isa::Scalar: break;
  }
  return fma_peak_scalar(iters, mul, add, init, out);
}

std::string_view int8_kind_name(Int8Kind kind) { return kind == Int8Kind::Vnni ? "avx512vnni" : "avx2"; }

bool cpu_has_int8(Int8Kind kind) {
  if (kind == Int8Kind::Avx2) return cpu_supports(Isa::Avx2);
  return cpu_supports(Isa::Avx512) && __builtin_cpu_supports("avx512vnni");
}

int int8_probe_accumulators(Int8Kind kind) {
  return kind == Int8Kind::Vnni ? kInt8AccumulatorsVnni : kInt8AccumulatorsAvx2;
}
int int8_probe_lanes(Int8Kind kind) { return kind == Int8Kind::Vnni ? 16 : 8; }
int int8_probe_bytes(Int8Kind kind) { return 4 * int8_probe_lanes(kind); }
int int8_probe_ints(Int8Kind kind) { return int8_probe_accumulators(kind) * int8_probe_lanes(kind); }

int64_t probe_int8(Int8Kind kind, int64_t iters, const uint8_t* a, const int8_t* b, const int32_t* init, int32_t* out) {
  if (!cpu_has_int8(kind)) fail_input("host probe: {} is not supported by this CPU", int8_kind_name(kind));
  return kind == Int8Kind::Vnni ? detail::int8_peak_vnni(iters, a, b, init, out)
                                : detail::int8_peak_avx2(iters, a, b, init, out);
}

int32_t int8_lane_increment(Int8Kind kind, const uint8_t* a, const int8_t* b, int lane) {
  const auto mac = [&](int j) { return int32_t(a[j]) * int32_t(b[j]); };
  const int j = 4 * lane;
  if (kind == Int8Kind::Vnni) return mac(j) + mac(j + 1) + mac(j + 2) + mac(j + 3);
  const auto sat16 = [](int32_t v) { return std::clamp<int32_t>(v, -32768, 32767); };
  return sat16(mac(j) + mac(j + 1)) + sat16(mac(j + 2) + mac(j + 3));
}

// ---- host description ----------------------------------------------------------------------------

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    const size_t b = v.find_first_not_of(" \t");
    return b == std::string::npos ? "unknown" : v.substr(b);
  }
  return "unknown";
}

uint64_t last_level_cache_bytes() {
  uint64_t best = 0;
  int best_level = 0;
  for (int i = 0; i < 16; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream lf(dir + "level"), tf(dir + "type"), sf(dir + "size");
    int level = 0;
    std::string type, size;
    if (!(lf >> level) || !(tf >> type) || !(sf >> size)) continue;
    if (type == "Instruction" || size.empty()) continue;
    uint64_t mult = 1;
    switch (size.back()) {
      case 'K': mult = 1024; break;
      case 'M': mult = 1024 * 1024; break;
      case 'G': mult = 1024ull * 1024 * 1024; break;
      default: break;
    }
    const uint64_t bytes = std::strtoull(size.c_str(), nullptr, 10) * mult;
    if (level > best_level || (level == best_level && bytes > best)) {
      best_level = level;
      best = bytes;
    }
  }
  if (best > 0) return best;
  // No cache directories in sysfs (some sandboxed VMs): the C library's own reading of CPUID.
  for (const int name : {_SC_LEVEL4_CACHE_SIZE, _SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
    const long bytes = sysconf(name);
    if (bytes > 0) return uint64_t(bytes);
  }
  return 0;
}

std::vector<std::string> cpu_feature_names() {
  std::vector<std::string> v;
#define QS_FEATURE(name) \
  if (__builtin_cpu_supports(name)) v.emplace_back(name);
  QS_FEATURE("sse4.2")
  QS_FEATURE("avx")
  QS_FEATURE("avx2")
  QS_FEATURE("fma")
  QS_FEATURE("f16c")
  QS_FEATURE("avx512f")
  QS_FEATURE("avx512bw")
  QS_FEATURE("avx512vl")
  QS_FEATURE("avx512dq")
  QS_FEATURE("avx512vnni")
  QS_FEATURE("avx512bf16")
  QS_FEATURE("avx512fp16")
  QS_FEATURE("avxvnni")
  QS_FEATURE("amx-int8")
  QS_FEATURE("amx-bf16")
#undef QS_FEATURE
  return v;
}

// ---- the whole probe -----------------------------------------------------------------------------

HostMeasurement measure_read_bandwidth(uint64_t bytes, int threads, int repetitions) {
  if (bytes < 4096) fail_input("read probe: {} bytes is below the minimum of 4096", bytes);
  if (repetitions < 1) fail_input("read probe: repetitions must be >= 1, got {}", repetitions);
  const int nt = threads > 0 ? threads : num_threads();
  const int64_t n = int64_t(bytes / sizeof(float));
  const ProbeArray buf = allocate_probe_array(n, "read probe");
  fill_read_pattern(buf.get(), n, nt);
  return read_probe(buf.get(), n, nt, repetitions, active_isa());
}

HostReport run_host_probe(const HostProbeOptions& o) {
  if (o.bytes < 4096) fail_input("host probe: --host-bytes {} is below the minimum of 4096", o.bytes);
  if (o.repetitions < 1) fail_input("host probe: repetitions must be >= 1, got {}", o.repetitions);
  if (!(o.peak_seconds > 0 && o.peak_seconds <= 10))
    fail_input("host probe: peak seconds must be in (0, 10], got {}", o.peak_seconds);
  if (o.threads < 0) fail_input("host probe: threads must be >= 0, got {}", o.threads);
  const double t_start = now_seconds();
  const int all = o.threads > 0 ? o.threads : num_threads();
  const int reps = o.repetitions;

  HostReport rep;
  rep.cpu_model = cpu_model_name();
  rep.hardware_threads = omp_get_num_procs();
  for (Isa i : supported_isas()) rep.isas.emplace_back(isa_name(i));
  rep.active_isa = std::string(isa_name(active_isa()));
  rep.features = cpu_feature_names();
  rep.last_level_cache_bytes = last_level_cache_bytes();
  rep.repetitions = reps;
  rep.threads = all;
  const Isa mem_isa = active_isa();
  const std::vector<int> thread_counts = all == 1 ? std::vector<int>{1} : std::vector<int>{1, all};
  const std::string mem_isa_name(isa_name(mem_isa));

  // ---- memory: one buffer; read sums all of it, triad uses three thirds of it ----
  const int64_t n = int64_t(o.bytes / sizeof(float));
  rep.bytes = uint64_t(n) * sizeof(float);
  ProbeArray buf = allocate_probe_array(n, "host probe (--host-bytes)");
  float* x = buf.get();
  fill_read_pattern(x, n, all);
  for (int threads : thread_counts) rep.results.push_back(read_probe(x, n, threads, reps, mem_isa));

  const int64_t n3 = n / 3 / 16 * 16;
  rep.triad_array_bytes = uint64_t(n3) * sizeof(float);
  if (n3 > 0) {
    float* a = x;
    const float* b = x + n3;
    const float* c = x + 2 * n3;
    volatile float vs = 3.0f;
    const float s = vs;
    for (int threads : thread_counts) {
      const Timing tm = time_best(threads, reps, [&](int t, int nt) {
        const auto [lo, hi] = chunk(n3, t, nt);
        return probe_triad(mem_isa, a + lo, b + lo, c + lo, s, hi - lo);
      });
      int64_t bad = 0;
#pragma omp parallel for schedule(static) num_threads(all) reduction(+ : bad)
      for (int64_t i = 0; i < n3; ++i) bad += a[i] != b[i] + s * c[i];  // exact: small integers
      g_sink = g_sink + a[n3 - 1];
      const bool ok = bad == 0 && tm.work == n3;
      if (!ok) fail_internal("host probe: triad wrote {} of {} elements, {} wrong", tm.work, n3, bad);
      // 3 arrays of traffic per element; write-allocate not counted (see host_probe.h).
      rep.results.push_back(make("triad", mem_isa_name, tm, 3.0 * sizeof(float), "GB/s", "bytes", 0, ok));
    }
  }
  buf.reset();

  // ---- peak fp32 FMA: acc = fma(acc, 1, 1) from small integers is exact, saturating at 2^24 ----
  std::vector<Isa> peak_isas;
  for (Isa i : supported_isas())
    if (i != Isa::Scalar) peak_isas.push_back(i);
  if (peak_isas.empty()) peak_isas.push_back(Isa::Scalar);
  volatile float vone = 1.0f;  // opaque to the compiler
  const float mul = vone, add = vone;
  for (Isa isa : peak_isas) {
    const int nf = fma_probe_floats(isa);
    std::vector<float> init(static_cast<size_t>(nf));
    for (int i = 0; i < nf; ++i) init[size_t(i)] = float(i + 1);
    std::vector<std::vector<float>> outs(static_cast<size_t>(all), std::vector<float>(size_t(nf)));
    const int64_t iters = calibrate(o.peak_seconds, [&](int64_t it) {
      g_sink = g_sink + double(probe_fma(isa, it, mul, add, init.data(), outs[0].data()));
    });
    for (int threads : thread_counts) {
      const Timing tm = time_best(threads, reps, [&](int t, int) {
        return probe_fma(isa, iters, mul, add, init.data(), outs[size_t(t)].data());
      });
      bool ok = tm.work == iters * int64_t(nf) * tm.threads;
      for (int t = 0; t < tm.threads; ++t)
        for (int i = 0; i < nf; ++i) {
          const double want = std::min(double(init[size_t(i)]) + double(iters), 16777216.0);
          ok = ok && double(outs[size_t(t)][size_t(i)]) == want;
          g_sink = g_sink + outs[size_t(t)][size_t(i)];
        }
      if (!ok) fail_internal("host probe: {} FMA kernel result differs from its closed form", isa_name(isa));
      rep.results.push_back(make("fp32_fma", std::string(isa_name(isa)), tm, 2.0, "GFLOP/s", "flops", iters, ok));
    }
  }

  // ---- peak int8 dot products ----
  for (Int8Kind kind : {Int8Kind::Avx2, Int8Kind::Vnni}) {
    if (!cpu_has_int8(kind)) continue;
    const int nb = int8_probe_bytes(kind), ni = int8_probe_ints(kind), lanes = int8_probe_lanes(kind);
    std::vector<uint8_t> a(static_cast<size_t>(nb));
    std::vector<int8_t> b(static_cast<size_t>(nb));
    for (int j = 0; j < nb; ++j) {
      a[size_t(j)] = uint8_t((j * 37 + 11) & 0xff);
      b[size_t(j)] = int8_t(int((j * 53 + 7) & 0xff) - 128);
    }
    std::vector<int32_t> init(static_cast<size_t>(ni));
    for (int i = 0; i < ni; ++i) init[size_t(i)] = i - 50;
    std::vector<std::vector<int32_t>> outs(static_cast<size_t>(all), std::vector<int32_t>(size_t(ni)));
    const int64_t iters = calibrate(o.peak_seconds, [&](int64_t it) {
      g_sink = g_sink + double(probe_int8(kind, it, a.data(), b.data(), init.data(), outs[0].data()));
    });
    for (int threads : thread_counts) {
      const Timing tm = time_best(threads, reps, [&](int t, int) {
        return probe_int8(kind, iters, a.data(), b.data(), init.data(), outs[size_t(t)].data());
      });
      bool ok = tm.work == iters * int64_t(ni) * 4 * tm.threads;
      for (int t = 0; t < tm.threads; ++t)
        for (int i = 0; i < ni; ++i) {
          // int32 wraps: compare modulo 2^32.
          const uint32_t inc = uint32_t(int8_lane_increment(kind, a.data(), b.data(), i % lanes));
          const uint32_t want = uint32_t(init[size_t(i)]) + uint32_t(uint64_t(iters) * inc);
          ok = ok && uint32_t(outs[size_t(t)][size_t(i)]) == want;
          g_sink = g_sink + outs[size_t(t)][size_t(i)];
        }
      if (!ok) fail_internal("host probe: {} int8 kernel result differs from its scalar reference", int8_kind_name(kind));
      rep.results.push_back(make("int8_dot", std::string(int8_kind_name(kind)), tm, 2.0, "GOPS", "ops", iters, ok));
    }
  }
  rep.seconds = now_seconds() - t_start;
  return rep;
}

}  // namespace quantscope
