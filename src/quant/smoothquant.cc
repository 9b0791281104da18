#include "quant/smoothquant.h"

#include <algorithm>
#include <cmath>

namespace quantscope {

std::vector<float> smoothquant_scales(const std::vector<float>& act_absmax, const std::vector<const float*>& mats,
                                      const std::vector<int64_t>& rows, int64_t k, double alpha) {
  // max |W_:,j| over the rows of every matrix sharing the input (SmoothQuant smooths q/k/v together).
  std::vector<float> w_absmax(size_t(k), 0.0f);
  for (size_t m = 0; m < mats.size(); ++m)
    for (int64_t r = 0; r < rows[m]; ++r)
      for (int64_t j = 0; j < k; ++j) w_absmax[size_t(j)] = std::fmax(w_absmax[size_t(j)], std::fabs(mats[m][r * k + j]));
  std::vector<float> s(size_t(k), 1.0f);
  for (int64_t j = 0; j < k; ++j) {
    const double a = act_absmax[size_t(j)], w = w_absmax[size_t(j)];
    if (!(a > 0) || !(w > 0) || !std::isfinite(a) || !std::isfinite(w)) continue;
    const double v = std::pow(a, alpha) / std::pow(w, 1.0 - alpha);
    s[size_t(j)] = float(std::max(v, 1e-5));
  }
  return s;
}

}  // namespace quantscope
