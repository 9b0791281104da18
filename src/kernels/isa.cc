#include "kernels/isa.h"

#include <cpuid.h>

#include <cstdlib>

#include "core/error.h"

namespace quantscope {

namespace {
// F16C from CPUID leaf 1 (ECX bit 29) directly: clang before 16 has no "f16c" name for
// __builtin_cpu_supports, and the fuzz build (fuzz/) uses clang 14.
bool cpu_has_f16c() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) != 0;
}

bool cpu_has(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return true;
    case Isa::Avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::Avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  }
  return false;
}

Isa detect() {
  if (const char* env = std::getenv("QUANTSCOPE_ISA"); env && *env) {
    Isa isa;
    if (!isa_from_name(env, &isa)) fail_input("QUANTSCOPE_ISA={}: expected scalar, avx2 or avx512", env);
    if (!cpu_has(isa)) fail_input("QUANTSCOPE_ISA={}: this CPU does not support it", env);
    return isa;
  }
  if (cpu_has(Isa::Avx512)) return Isa::Avx512;
  if (cpu_has(Isa::Avx2)) return Isa::Avx2;
  return Isa::Scalar;
}

Isa& current() {
  static Isa isa = detect();
  return isa;
}
}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool isa_from_name(std::string_view name, Isa* out) {
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
    if (isa_name(i) == name) {
      *out = i;
      return true;
    }
  }
  return false;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (cpu_has(i)) v.push_back(i);
  return v;
}

Isa active_isa() { return current(); }

void set_isa(Isa isa) {
  if (!cpu_has(isa)) fail_input("ISA {} is not supported by this CPU", isa_name(isa));
  current() = isa;
}

}  // namespace quantscope
