#include "common/latency_histogram.h"

#include <algorithm>
#include <limits>

namespace mi {

void LatencyHistogram::observe(std::chrono::nanoseconds duration) {
  const double seconds = std::chrono::duration<double>(duration).count();
  const auto it = std::lower_bound(kBoundsSeconds.begin(), kBoundsSeconds.end(), seconds);
  counts_[static_cast<std::size_t>(it - kBoundsSeconds.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(duration.count(), std::memory_order_relaxed);
}

LatencyHistogram::Snapshot LatencyHistogram::snapshot() const {
  Snapshot s;
  unsigned long long running = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.sum_seconds = static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

double LatencyHistogram::Snapshot::quantile_upper_bound(double q) const {
  if (count() == 0) return 0;
  const double wanted = q * static_cast<double>(count());
  for (std::size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    if (static_cast<double>(cumulative[i]) >= wanted) return kBoundsSeconds[i];
  }
  return std::numeric_limits<double>::infinity();
}

}  // namespace mi
