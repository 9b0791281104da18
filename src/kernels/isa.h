// The one dispatch point: which instruction set the fast kernels use, chosen once at run time from
// the CPU (AVX-512 > AVX2+FMA > scalar) and overridable with QUANTSCOPE_ISA=scalar|avx2|avx512 or
// set_isa() (tests force each ISA the machine has). Every ISA computes bit-identical results: the
// kernels fix the order of every floating-point reduction (see dot.h).
#pragma once

#include <string_view>
#include <vector>

namespace quantscope {

enum class Isa { Scalar, Avx2, Avx512 };

std::string_view isa_name(Isa isa);
// ISAs this CPU can run, best last.
std::vector<Isa> supported_isas();
Isa active_isa();
// Throws InputError when the CPU lacks it.
void set_isa(Isa isa);
bool isa_from_name(std::string_view name, Isa* out);

}  // namespace quantscope
