// quantscope_bench_gemm: GFLOP/s of matmul() (and gemm_nt_f32 with --gemm) on prefill / decode shapes,
// and of matmul_packed() for b-bit codes (dtype w1..w8: group size 128, asymmetric, fp32 scales).
// GB/s counts the weight bytes (codes + scales + zero points) read once per call: the decode figure of merit.
//   quantscope_bench_gemm [--threads 1,2] [--dtypes f32,bf16,w4] [--min-time 0.3] [--gemm] [--shape m,n,k]...
// Each configuration runs until --min-time seconds have passed (at least 2 runs after a warm-up)
// and reports the best run.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/parallel.h"
#include "kernels/isa.h"
#include "kernels/matmul.h"
#include "kernels/packed_matrix.h"
#if __has_include("kernels/gemm.h")
#include "kernels/gemm.h"
#define QUANTSCOPE_HAVE_GEMM 1
#endif

using namespace quantscope;

namespace {
struct Shape {
  int64_t m, n, k;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p <= s.size()) {
    size_t q = s.find(',', p);
    if (q == std::string::npos) q = s.size();
    if (q > p) out.push_back(s.substr(p, q - p));
    p = q + 1;
  }
  return out;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {1, 2};
  std::vector<std::string> dtypes = {"f32", "bf16"};
  std::vector<Shape> shapes;
  double min_time = 0.3;
  bool raw_gemm = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") {
      threads.clear();
      for (auto& t : split(next())) threads.push_back(std::atoi(t.c_str()));
    } else if (a == "--dtypes") {
      dtypes = split(next());
    } else if (a == "--min-time") {
      min_time = std::atof(next().c_str());
    } else if (a == "--shape") {
      auto v = split(next());
      if (v.size() != 3) return std::fprintf(stderr, "--shape m,n,k\n"), 2;
      shapes.push_back({std::atoll(v[0].c_str()), std::atoll(v[1].c_str()), std::atoll(v[2].c_str())});
    } else if (a == "--gemm") {
      raw_gemm = true;
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
#ifndef QUANTSCOPE_HAVE_GEMM
  if (raw_gemm) return std::fprintf(stderr, "--gemm: gemm.h not available\n"), 2;
#endif
  if (shapes.empty()) shapes = {{512, 1536, 1536}, {512, 6144, 1536}, {512, 1536, 6144}, {1, 6144, 1536}};
  std::printf("isa=%s\n", std::string(isa_name(active_isa())).c_str());
  std::printf("%-6s %6s %6s %6s %7s %8s %10s %9s %8s\n", "op", "m", "n", "k", "dtype", "threads", "ms(best)", "GFLOP/s",
              "GB/s");
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const Shape& s : shapes) {
    std::vector<float> x(size_t(s.m * s.k)), w32(size_t(s.n * s.k)), y(size_t(s.m * s.n));
    for (auto& v : x) v = nd(rng);
    for (auto& v : w32) v = nd(rng);
    std::vector<uint16_t> w16(w32.size());
    std::vector<uint8_t> codes;
    std::vector<float> scales, zeros;
    for (const std::string& dt : dtypes) {
      DenseMatrix w{DType::F32, s.n, s.k, w32.data()};
      PackedCodesMatrix pw;
      double weight_bytes = double(s.n) * double(s.k) * 4.0;
      const bool packed = dt.size() == 2 && dt[0] == 'w' && dt[1] >= '1' && dt[1] <= '8';
      if (packed) {
        pw.bits = dt[1] - '0';
        pw.rows = s.n;
        pw.cols = s.k;
        pw.group_size = std::min<int64_t>(128, s.k);
        pw.groups = (s.k + pw.group_size - 1) / pw.group_size;
        pw.row_bytes = (s.k * pw.bits + 7) / 8;
        codes.resize(static_cast<size_t>(s.n * pw.row_bytes));
        for (auto& c : codes) c = uint8_t(rng());
        scales.assign(static_cast<size_t>(s.n * pw.groups), 0.01f);
        zeros.assign(scales.size(), float(1 << (pw.bits - 1)));
        pw.codes = codes.data();
        pw.scales = scales.data();
        pw.zeros = zeros.data();
        weight_bytes = double(codes.size()) + 8.0 * double(scales.size());
      } else if (dt == "bf16") {
        for (size_t i = 0; i < w32.size(); ++i) w16[i] = f32_to_bf16(w32[i]);
        w = {DType::BF16, s.n, s.k, w16.data()};
        weight_bytes /= 2;
      } else if (dt == "f16") {
        for (size_t i = 0; i < w32.size(); ++i) w16[i] = f32_to_f16(w32[i]);
        w = {DType::F16, s.n, s.k, w16.data()};
        weight_bytes /= 2;
      } else if (dt != "f32") {
        std::fprintf(stderr, "unknown dtype %s\n", dt.c_str());
        return 2;
      }
      if (raw_gemm && dt != "f32") continue;
      for (int t : threads) {
        set_num_threads(t);
        auto run = [&] {
#ifdef QUANTSCOPE_HAVE_GEMM
          if (raw_gemm) return gemm_nt_f32(x.data(), s.k, w32.data(), s.k, s.m, s.n, s.k, y.data(), s.n);
#endif
          if (packed) return matmul_packed(x.data(), s.m, pw, nullptr, y.data());
          matmul(x.data(), s.m, w, nullptr, y.data());
        };
        run();  // warm-up
        double best = 1e30, t0 = now();
        int runs = 0;
        while (runs < 2 || now() - t0 < min_time) {
          const double a = now();
          run();
          best = std::min(best, now() - a);
          ++runs;
        }
        const double gflops = 2.0 * double(s.m) * double(s.n) * double(s.k) / best * 1e-9;
        std::printf("%-6s %6lld %6lld %6lld %7s %8d %10.3f %9.2f %8.2f\n", raw_gemm ? "gemm" : "matmul", (long long)s.m,
                    (long long)s.n, (long long)s.k, dt.c_str(), t, best * 1e3, gflops, weight_bytes / best * 1e-9);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
