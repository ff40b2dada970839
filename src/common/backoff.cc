#include "common/backoff.h"

#include <algorithm>
#include <cmath>

namespace mi {

Millis BackoffPolicy::delay_before_attempt(int attempt) const {
  if (attempt <= 1) return Millis{0};
  const double raw = static_cast<double>(initial.count()) * std::pow(multiplier, attempt - 2);
  const double capped = std::min(raw, static_cast<double>(max.count()));
  return Millis{static_cast<long long>(capped)};
}

}  // namespace mi
