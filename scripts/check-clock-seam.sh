#!/usr/bin/env bash
# Fails if code in src/ (tests aside) reads a clock or sleeps other than through common/clock
# (mi::Clock: SystemClock, or a ManualClock in tests), so that every timeout can be driven in
# simulated time. ctest runs it (clock_seam_check).
#   scripts/check-clock-seam.sh [source-dir]
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"
pattern='std::chrono::(steady_clock|system_clock|high_resolution_clock)|this_thread::sleep_(for|until)|\b(clock_gettime|gettimeofday|usleep|nanosleep)\(|[^_[:alnum:].:>]sleep\(|std::time\('
# Comments may name them; code may not.
found=$(grep -rnE --include='*.cc' --include='*.h' "$pattern" src |
  grep -vE '^src/common/(clock|manual_clock)[^/]*:' | grep -vE '_test\.cc:' |
  grep -vE '^[^:]+:[0-9]+: *//' || true)
if [ -n "$found" ]; then
  echo "check-clock-seam: time read or waited on outside common/clock (use mi::Clock; SystemClock::instance() where nothing injects one):" >&2
  echo "$found" >&2
  exit 1
fi
echo "check-clock-seam: every read of time and every wait in src/ goes through common/clock"
