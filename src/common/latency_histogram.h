#pragma once
// A lock-free histogram of durations with fixed buckets (Prometheus style: an observation
// counts in the first bucket whose upper bound it does not exceed). Fixed buckets keep
// observe() to two atomic increments on the message path.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>

namespace mi {

class LatencyHistogram {
 public:
  // Upper bounds in seconds, 0.5 ms to 10 s; anything slower lands in +Inf.
  static constexpr std::array<double, 14> kBoundsSeconds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                         0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
  static constexpr std::size_t kBuckets = kBoundsSeconds.size() + 1;  // + the +Inf bucket

  void observe(std::chrono::nanoseconds duration);

  struct Snapshot {
    std::array<unsigned long long, kBuckets> cumulative{};  // count <= bound, last = all
    double sum_seconds = 0;
    unsigned long long count() const { return cumulative.back(); }
    // The smallest bucket bound below which at least `q` of the observations fall
    // (+infinity if that is the +Inf bucket, 0 if there are none).
    double quantile_upper_bound(double q) const;
  };
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<unsigned long long>, kBuckets> counts_{};
  std::atomic<long long> sum_nanos_{0};
};

}  // namespace mi
