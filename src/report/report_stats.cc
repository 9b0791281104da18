#include "report/report_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace quantscope {

std::vector<size_t> pareto_front(const std::vector<CostQuality>& points) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < points.size(); ++i)
    if (std::isfinite(points[i].cost) && std::isfinite(points[i].quality)) idx.push_back(i);
  // By cost, then quality: a point is on the front when it is strictly better than every cheaper one.
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    if (points[a].cost != points[b].cost) return points[a].cost < points[b].cost;
    return points[a].quality < points[b].quality;
  });
  std::vector<size_t> front;
  double best = INFINITY;
  for (size_t i : idx) {
    if (points[i].quality < best) {
      front.push_back(i);
      best = points[i].quality;
    }
  }
  return front;
}

double two_sided_p(double z) { return std::erfc(std::fabs(z) / std::sqrt(2.0)); }

std::vector<double> holm_adjust(const std::vector<double>& p) {
  const size_t m = p.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> adjusted(m);
  double running = 0;
  for (size_t j = 0; j < m; ++j) {
    running = std::max(running, std::min(1.0, double(m - j) * p[order[j]]));
    adjusted[order[j]] = running;
  }
  return adjusted;
}

}  // namespace quantscope
