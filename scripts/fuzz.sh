#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with clang-14, -fsanitize=fuzzer,address,undefined,
# into build/fuzz, then fuzzes each target for SECONDS (default 60) over a copy of its seed
# corpus. Exits non-zero if any target crashed, leaked, timed out or ran out of memory, and
# prints where the input that did it was saved.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      e.g. scripts/fuzz.sh 30 http_request
#   scripts/fuzz.sh --build-only               build every target, fuzz nothing
#
# Environment: FUZZ_JOBS (build parallelism, and how many targets are fuzzed at once, each
# on its own core for the whole SECONDS; default 2), FUZZ_CXX (default clang++-14).
set -euo pipefail
cd "$(dirname "$0")/.."

build_only=false
if [ "${1:-}" = "--build-only" ]; then
  build_only=true
  shift
fi
seconds=${1:-60}
shift || true
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(yaml_config properties_config env_binding http_request http_wire mqtt_packet sidecar_headers)

cxx=${FUZZ_CXX:-clang++-14}
build=build/fuzz
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang-14)" >&2; exit 2; }

# MI_SANITIZE adds -fsanitize=address,undefined -fno-sanitize-recover=all to everything;
# -fsanitize=fuzzer-no-link gives the libraries coverage instrumentation, and the fuzz
# executables add -fsanitize=fuzzer (fuzz/CMakeLists.txt). -O1 with asserts kept.
cmake -S . -B "$build" -G Ninja \
  -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link -O1" \
  -DMI_SANITIZE=ON -DMI_FUZZ=ON -DMI_WERROR=ON >/dev/null
cmake --build "$build" -j "${FUZZ_JOBS:-2}" --target "${targets[@]/%/_fuzz}"
$build_only && exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# fuzz_one TARGET: fuzzes one target for $seconds; its summary line goes to runs/TARGET/summary.
fuzz_one() {
  local t=$1
  local work="$build/runs/$t"
  echo "== fuzzing $t for ${seconds}s (log: $work/fuzz.log)"
  local dict=()
  case $t in yaml_config|properties_config|env_binding) dict=(-dict=fuzz/config.dict) ;; esac
  local rc=0
  "$build/fuzz/${t}_fuzz" "$work/corpus" "${dict[@]}" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" >"$work/fuzz.log" 2>&1 || rc=$?
  local execs cov line
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
  cov=$(grep -oE '(cov|ft|corp): [0-9]+(/[0-9]+[a-zA-Z]*)?' "$work/fuzz.log" | tail -3 | tr '\n' ' ')
  line="$t: exit $rc, ${execs:-?} execs, $cov"
  if [ "$rc" -ne 0 ]; then
    line+=" FAILED"
    {
      echo "!! $t failed (exit $rc). Last lines of $work/fuzz.log:"
      grep -E 'ERROR|SUMMARY|fuzz oracle|runtime error|Test unit written|deadly signal|timeout|out-of-memory' "$work/fuzz.log" | head -20 || true
      for a in "$work"/artifacts/*; do
        [ -e "$a" ] || continue
        echo "!! crash input saved as $a (replay: $build/fuzz/${t}_fuzz $a)"
      done
    } >&2
  fi
  echo "$line" >"$work/summary"
}

# Targets are fuzzed FUZZ_JOBS at a time: each is one process on one core, so each still
# gets SECONDS of a whole core.
for t in "${targets[@]}"; do
  work="$build/runs/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp fuzz/corpus/"$t"/* "$work/corpus/"
  while [ "$(jobs -rp | wc -l)" -ge "${FUZZ_JOBS:-2}" ]; do wait -n || true; done
  fuzz_one "$t" &
done
wait

failed=0
summary=()
for t in "${targets[@]}"; do
  line=$(cat "$build/runs/$t/summary" 2>/dev/null || echo "$t: no result FAILED")
  [[ $line == *FAILED ]] && failed=1
  summary+=("$line")
done

echo "== fuzz summary (${seconds}s per target)"
printf '  %s\n' "${summary[@]}"
exit "$failed"
