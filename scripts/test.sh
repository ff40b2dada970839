#!/usr/bin/env bash
# Installs what is needed, builds the release preset (what the demo runs), the debug preset
# (ASan + UBSan) and the tsan preset (ThreadSanitizer), then runs every test, unit and
# integration, under each of the two sanitizer builds; then the package test, short fault
# campaigns and a short fuzz run. Prints each step's wall time at the end (also when a step
# fails) and the slowest 15 tests of each ctest run.
set -euo pipefail
cd "$(dirname "$0")/.."

logs=build/test-logs
mkdir -p "$logs"
step_names=()
step_seconds=()
run_started=$(date +%s)

print_step_table() {
  local rc=$?
  [ ${#step_names[@]} -gt 0 ] || return 0
  echo
  echo "== step times ($(nproc) cores, $(date -u +%Y-%m-%d))"
  local i
  for i in "${!step_names[@]}"; do
    printf '  %-44s %6s s\n' "${step_names[$i]}" "${step_seconds[$i]}"
  done
  printf '  %-44s %6s s\n' "total" "$(($(date +%s) - run_started))"
  [ "$rc" -eq 0 ] || echo "  (stopped by a failure, exit $rc)"
}
trap print_step_table EXIT

# step NAME COMMAND...: runs COMMAND, records its wall time under NAME (a failed step is
# recorded too, then the script stops).
step() {
  local name=$1
  shift
  echo "== step: $name"
  local started rc=0
  started=$(date +%s)
  "$@" || rc=$?
  step_names+=("$name")
  step_seconds+=("$(($(date +%s) - started))")
  [ "$rc" -eq 0 ] || { step_names[-1]+=" (FAILED)"; exit "$rc"; }
}

# ctest_step NAME CTEST-ARGS...: a ctest run as a step, then its 15 slowest tests.
ctest_step() {
  local name=$1
  shift
  local log="$logs/${name// /_}.log" rc=0
  step "$name" bash -c 'ctest "$@" 2>&1 | tee "$0"; exit "${PIPESTATUS[0]}"' "$log" "$@" || rc=$?
  echo "== slowest 15 tests of '$name'"
  sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) .* ([0-9.]+) sec$/\2 \1/p' "$log" | sort -rn | head -15 |
    awk '{ printf "  %8.1f s  %s\n", $1, $2 }'
  return "$rc"
}

step "install-deps" scripts/install-deps.sh

step "build release" bash -c 'cmake --preset release >/dev/null && cmake --build --preset release'

step "build debug (ASan+UBSan)" bash -c 'cmake --preset debug >/dev/null && cmake --build --preset debug'
ctest_step "ctest debug (ASan+UBSan)" --preset debug -j 2

# The same suite under ThreadSanitizer (clang-14); the build also checks the lock annotations
# (-Wthread-safety, as errors). Fails on any data race or lock-order inversion it sees.
step "build tsan" bash -c 'cmake --preset tsan >/dev/null && cmake --build --preset tsan'
ctest_step "ctest tsan" --preset tsan -j 2

# Built the way users and packagers build (plain CMake, Release = -O3), installed, packaged
# as a .deb, installed with dpkg, run as the service user with the installed config, purged.
step "package test" scripts/package-test.sh

# A short fault campaign (release build, a few minutes): 40 seeded faults against three
# active_standby instances under load; fails if the independent checker sees two active at
# once, a lost message, an epoch going backwards or a standby left unbound.
step "campaign 0-9-1, 40 faults" scripts/fault-campaign.sh --seed 1 --faults 40
# The same with the management session over AMQP 1.0 (the broker's AMQP 1.0 plugin), shorter.
step "campaign AMQP 1.0, 12 faults" scripts/fault-campaign.sh --seed 1 --faults 12 --session-protocol amqp-1.0
# The same on a three-node RabbitMQ cluster in network namespaces (as root): node partitions,
# kills and restarts among the process faults, a few minutes.
step "campaign cluster, 6 faults" scripts/fault-campaign.sh --cluster --seed 1 --faults 6

# Hostile input: a short libFuzzer run of every fuzz target (clang-14, ASan+UBSan) on top of
# the seed-corpus replays above; fails on any crash, hang or sanitizer report.
step "fuzz (build + ${FUZZ_SECONDS:-20} s per target)" scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
