// Dense linear algebra in double for the Hessian-based quantizers (GPTQ, GPTAQ, BiLLM): Cholesky
// factors and triangular inverses of K x K matrices, K up to the widest linear input (6144 on
// openPangu-Embedded-1B). Every function is deterministic for any thread count: each output element
// is computed whole by one thread, always with the same arithmetic.
#pragma once

#include <cstdint>
#include <vector>

namespace quantscope {

// Lower Cholesky factor of the symmetric n x n matrix a (row-major, in place: the lower triangle
// becomes L, the strict upper triangle is zeroed). False when a is not positive definite.
bool cholesky_lower(double* a, int64_t n);

// x = l^-1 for a lower triangular l with a nonzero diagonal (both row-major n x n; x's strict upper
// triangle is written as zeros). False when an entry of the inverse is not finite.
bool invert_lower_triangular(const double* l, int64_t n, double* x);

// Upper Cholesky factor U of H^-1 (row-major n x n, H^-1 = U^T U) from a positive definite H.
// False when H (or its inverse, numerically) is not positive definite.
bool inverse_cholesky_upper(std::vector<double> h, int64_t n, std::vector<double>* u);

}  // namespace quantscope
