#pragma once
#include "common/clock.h"

namespace mi {

// Exponential back-off between attempts, as in Spring Retry: the wait before attempt n
// (n >= 2) is initial * multiplier^(n-2), capped at max.
struct BackoffPolicy {
  int max_attempts = 3;
  Millis initial{1000};
  Millis max{10000};
  double multiplier = 2.0;

  Millis delay_before_attempt(int attempt) const;
};

}  // namespace mi
