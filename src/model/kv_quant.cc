#include "model/kv_quant.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace quantscope {

std::string_view kv_granularity_name(KVGranularity g) { return g == KVGranularity::Token ? "token" : "channel"; }

bool kv_granularity_from_name(std::string_view s, KVGranularity* out) {
  if (s == "token") *out = KVGranularity::Token;
  else if (s == "channel") *out = KVGranularity::Channel;
  else return false;
  return true;
}

std::string KVCacheQuant::describe() const {
  if (!enabled()) return "fp32";
  return fmt::format("kv{} {}", bits, kv_granularity_name(granularity));
}

void KVCacheQuant::apply(int layer, float* k, float* v, int kv_heads, int head_dim) const {
  if (!enabled()) return;
  if (granularity == KVGranularity::Token) {
    for (int h = 0; h < kv_heads; ++h) {
      fake_quant_symmetric_dynamic(k + h * head_dim, head_dim, bits, rounding);
      fake_quant_symmetric_dynamic(v + h * head_dim, head_dim, bits, rounding);
    }
    return;
  }
  const int64_t kv_dim = int64_t(kv_heads) * head_dim;
  const float* ks = k_scale.data() + layer * kv_dim;
  const float* vs = v_scale.data() + layer * kv_dim;
  for (int64_t c = 0; c < kv_dim; ++c) {
    fake_quant_symmetric_with_scale(k + c, 1, ks[c], bits, rounding);
    fake_quant_symmetric_with_scale(v + c, 1, vs[c], bits, rounding);
  }
}

KVRangeObserver::KVRangeObserver(int num_layers, int64_t kv_dim)
    : kv_dim_(kv_dim), k_absmax_(size_t(num_layers * kv_dim), 0.0f), v_absmax_(k_absmax_.size(), 0.0f) {}

void KVRangeObserver::observe(int layer, const float* k, const float* v, int64_t n) {
  float* km = k_absmax_.data() + layer * kv_dim_;
  float* vm = v_absmax_.data() + layer * kv_dim_;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < kv_dim_; ++c) {
      // fmax ignores a NaN operand, so one non-finite value cannot poison the range.
      km[c] = std::fmax(km[c], std::fabs(k[t * kv_dim_ + c]));
      vm[c] = std::fmax(vm[c], std::fabs(v[t * kv_dim_ + c]));
    }
}

void KVRangeObserver::set_scales(KVCacheQuant* q) const {
  const float qmax = symmetric_qmax(q->bits);
  q->k_scale.resize(k_absmax_.size());
  q->v_scale.resize(v_absmax_.size());
  for (size_t i = 0; i < k_absmax_.size(); ++i) {
    q->k_scale[i] = std::isfinite(k_absmax_[i]) ? k_absmax_[i] / qmax : 0.0f;
    q->v_scale[i] = std::isfinite(v_absmax_[i]) ? v_absmax_[i] / qmax : 0.0f;
  }
}

}  // namespace quantscope
