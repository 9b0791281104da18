// Host roofline probes for `quantscope bench --host`: this machine's memory bandwidth (read and
// STREAM triad), peak fp32 FMA rate and peak int8 dot-product rate, each with 1 thread and with all
// threads, best of R repetitions, so later results can be printed as a fraction of them.
//
// Conventions (also printed by the CLI):
//   * GB/s = 1e9 bytes per second.
//   * read counts 4 bytes per fp32 element summed.
//   * triad a[i] = b[i] + s*c[i] counts 3 arrays x 4 bytes = 12 bytes per element (STREAM's
//     convention). The write-allocate read of a[] that ordinary (non-streaming) stores cause is NOT
//     counted, so DRAM moves 16 bytes per element: multiply by 4/3 for that figure.
//   * one FMA = 2 flops; one int8 multiply-accumulate (MAC) = 2 ops.
//   * Every kernel counts the work it does in its own loops and returns that count; rates come from
//     those counts, never from the requested sizes. Every kernel's arithmetic result is checked
//     against a closed form or a scalar reference (run_host_probe and tests/unit/test_host_probe.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/isa.h"

namespace quantscope {

// ---- Kernels (one thread; exposed for tests) -------------------------------------------------

// Sum of x[0..n) in fp32 with 64 lanes of partial sums (lane = i mod 64, then a fixed tree);
// *elements gets the number of elements the loops read.
float probe_read_sum(Isa isa, const float* x, int64_t n, int64_t* elements);

// a[i] = b[i] + s*c[i] (fused multiply-add on AVX2/AVX-512, multiply then add on scalar) with
// ordinary stores; returns the number of elements written.
int64_t probe_triad(Isa isa, float* a, const float* b, const float* c, float s, int64_t n);

// Register-resident fp32 FMA kernel: kFmaAccumulators independent vector accumulators, each updated
// acc = fma(acc, mul, add) `iters` times. init/out hold fma_probe_floats(isa) values (accumulator
// k, lane l at k * lanes + l). Returns the number of scalar FMAs done (iters x accumulators x lanes).
// Isa::Avx2 uses ymm registers, Isa::Avx512 zmm; Isa::Scalar is a plain loop (a reference, not a peak).
constexpr int kFmaAccumulators = 12;
int fma_probe_lanes(Isa isa);  // 8, 16, or 1 for scalar
int fma_probe_floats(Isa isa);
int64_t probe_fma(Isa isa, int64_t iters, float mul, float add, const float* init, float* out);

// Register-resident int8 dot-product kernel, u8 x s8 -> s32:
//   Vnni: vpdpbusd zmm, 16 int32 lanes x 4 MACs per instruction, kInt8Accumulators accumulators.
//   Avx2: vpmaddubsw (u8*s8 pairs -> s16, saturating) + vpmaddwd by ones (-> s32) + vpaddd, 8 int32
//         lanes x 4 MACs per 3 instructions.
// a/b hold int8_probe_bytes(kind) bytes; every accumulator adds the same per-lane dot of a and b
// each iteration (int32 wraps). init/out hold int8_probe_ints(kind) values (accumulator k, lane l
// at k * lanes + l). Returns the number of MACs done (iters x accumulators x lanes x 4).
// Accumulators: 12 for VNNI (hides vpdpbusd latency); 8 for AVX2, whose only loop-carried
// dependency is the 1-cycle vpaddd (and 16 ymm registers must also hold a, b and the ones).
enum class Int8Kind { Avx2, Vnni };
constexpr int kInt8AccumulatorsAvx2 = 8;
constexpr int kInt8AccumulatorsVnni = 12;
int int8_probe_accumulators(Int8Kind kind);
std::string_view int8_kind_name(Int8Kind kind);  // "avx2" / "avx512vnni"
bool cpu_has_int8(Int8Kind kind);
int int8_probe_lanes(Int8Kind kind);  // int32 lanes per register: 8 / 16
int int8_probe_bytes(Int8Kind kind);  // 32 / 64
int int8_probe_ints(Int8Kind kind);   // accumulators * lanes
int64_t probe_int8(Int8Kind kind, int64_t iters, const uint8_t* a, const int8_t* b, const int32_t* init, int32_t* out);
// The scalar reference for one accumulator lane's per-iteration increment (AVX2 models vpmaddubsw's
// signed 16-bit saturation of each pair).
int32_t int8_lane_increment(Int8Kind kind, const uint8_t* a, const int8_t* b, int lane);

namespace detail {
float read_sum_avx2(const float* x, int64_t n, int64_t* elements);
float read_sum_avx512(const float* x, int64_t n, int64_t* elements);
int64_t triad_avx2(float* a, const float* b, const float* c, float s, int64_t n);
int64_t triad_avx512(float* a, const float* b, const float* c, float s, int64_t n);
int64_t fma_peak_avx2(int64_t iters, float mul, float add, const float* init, float* out);
int64_t fma_peak_avx512(int64_t iters, float mul, float add, const float* init, float* out);
int64_t int8_peak_avx2(int64_t iters, const uint8_t* a, const int8_t* b, const int32_t* init, int32_t* out);
int64_t int8_peak_vnni(int64_t iters, const uint8_t* a, const int8_t* b, const int32_t* init, int32_t* out);
}  // namespace detail

// ---- The whole probe ---------------------------------------------------------------------------

struct HostProbeOptions {
  uint64_t bytes = uint64_t(1) << 30;  // the read array; triad uses three arrays of bytes/3 each
  int repetitions = 5;                 // best of
  int threads = 0;                     // "all threads" figure; 0 = num_threads() (core/parallel.h)
  double peak_seconds = 0.1;           // target time of one repetition of a peak kernel
};

struct HostMeasurement {
  std::string probe;       // "read", "triad", "fp32_fma", "int8_dot"
  std::string isa;         // kernel used: "scalar", "avx2", "avx512", "avx512vnni"
  int threads = 1;         // threads that ran it
  double rate = 0;         // work / best_seconds in `unit`
  std::string unit;        // "GB/s", "GFLOP/s", "GOPS"
  double best_seconds = 0; // fastest repetition
  double work = 0;         // counted per repetition: bytes, flops or ops
  std::string work_unit;   // "bytes", "flops", "ops"
  int64_t iterations = 0;  // peak kernels: iterations per thread (0 for memory probes)
  bool verified = false;   // the kernel's arithmetic result matched its reference
};

struct HostReport {
  std::string cpu_model;
  int threads = 1;                         // the "all threads" count actually run
  int hardware_threads = 1;                // omp_get_num_procs()
  std::vector<std::string> isas;           // supported_isas()
  std::string active_isa;                  // active_isa(): the ISA the memory probes use
  std::vector<std::string> features;       // CPU features relevant to the kernels
  uint64_t last_level_cache_bytes = 0;     // 0 when unknown
  uint64_t bytes = 0;                      // read array bytes
  uint64_t triad_array_bytes = 0;          // each of the three triad arrays
  int repetitions = 0;
  double seconds = 0;                      // whole probe wall time
  std::vector<HostMeasurement> results;
};

// Runs every probe; throws InputError on bad options, InternalError when a kernel's result does not
// match its reference.
HostReport run_host_probe(const HostProbeOptions& options);

// The read probe alone (as run_host_probe's "all threads" read figure): `bytes` of fp32 summed by
// `threads` threads (0: num_threads()) on the active ISA, best of `repetitions`. Allocates, first-touches
// and frees its own array, so a caller can measure the bandwidth beside a run of its own (bench does,
// right after a model's decode: this VM's bandwidth moves by 10-25% within minutes).
HostMeasurement measure_read_bandwidth(uint64_t bytes, int threads, int repetitions);

// "model name" from /proc/cpuinfo ("unknown" when absent).
std::string cpu_model_name();
// Largest data/unified cache size from /sys, else from sysconf (glibc reads CPUID); 0 when unknown.
uint64_t last_level_cache_bytes();
std::vector<std::string> cpu_feature_names();

}  // namespace quantscope
