#!/usr/bin/env bash
# The test command (CI runs it through .ci/run). What each step checks:
#  1. install-deps: the Debian packages (idempotent); then scripts/fetch-test-brokers.sh: the
#     JVM broker the tests start besides RabbitMQ and Mosquitto (ActiveMQ Artemis, pinned
#     version and SHA-256, by Maven into a cache outside the tree; cached after the first run).
#  2. build debug: every target with GCC 12, ASan+UBSan, warnings as errors.
#  3. ctest debug: every test (unit, integration, broker, three-node cluster) under ASan+UBSan,
#     the real binary against real RabbitMQ, Mosquitto and Artemis brokers the tests start.
#     Meanwhile, at the lowest CPU priority, the builds the next step needs: the tsan preset
#     (clang-14, ThreadSanitizer, -Wthread-safety as errors), the release binary and fault
#     campaign. The broker tests mostly wait on brokers and timers (about a third of the two
#     cores busy); the builds take the idle CPU and yield it to the tests at once.
#  4. ctest tsan: every test but the cluster suite and the tests on Artemis under
#     ThreadSanitizer (see below). Meanwhile, at the lowest CPU priority, the package test's
#     -O3 binary and the libFuzzer targets are built.
#  5. package test: plain CMake Release (-O3), cmake --install, the .deb installed, run as
#     its service user, purged.
#  6. fault campaigns (release build): seeded faults against three active_standby instances
#     under load, over AMQP 0-9-1, AMQP 1.0 (RabbitMQ's plugin and ActiveMQ Artemis), and on a
#     three-node cluster; an independent checker fails on two active at once, a lost message
#     or an epoch going backwards. Two campaigns at a time, each with its own brokers: the
#     0-9-1 one (40 faults) beside the other three in turn.
#  7. fuzz: every libFuzzer target (clang-14, ASan+UBSan) for FUZZ_SECONDS (20) each, two at
#     a time, one core each, after the seed-corpus replays of step 3.
# The cluster suite runs under ASan+UBSan only: it tests how the instances ride out partitions
# and restarts of a three-node broker cluster, through session code (reconnects, host lists,
# lease expiry) that the single-broker active_standby suite also runs under TSan; its five
# tests take five minutes of mostly waiting for Erlang nodes. The same faults, and more, are
# replayed by the cluster fault campaign in step 6. The tests on Artemis (names with
# "artemis") run under ASan+UBSan only too: they run the same code, the same threads, as their
# twins on RabbitMQ's AMQP 1.0 plugin and on Mosquitto, which TSan does run, and each starts a
# JVM, which costs CPU that TSan's slowed threads need.
#
# Prints each step's wall time at the end (also when a step fails) and the slowest 15 tests
# of each ctest run.
set -euo pipefail
cd "$(dirname "$0")/.."

logs=build/test-logs
mkdir -p "$logs"
step_names=()
step_seconds=()
run_started=$(date +%s)
background_pid=""

print_step_table() {
  local rc=$?
  # A background step still running when a step failed: stop it and what it started.
  [ -z "$background_pid" ] || kill -- "-$background_pid" 2>/dev/null || true
  [ ${#step_names[@]} -gt 0 ] || return 0
  echo
  echo "== step times ($(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%Y-%m-%d))"
  local i
  for i in "${!step_names[@]}"; do
    printf '  %-64s %6s s\n' "${step_names[$i]}" "${step_seconds[$i]}"
  done
  printf '  %-64s %6s s\n' "total" "$(($(date +%s) - run_started))"
  [ "$rc" -eq 0 ] || echo "  (stopped by a failure, exit $rc)"
}
trap print_step_table EXIT

record() {  # record NAME STARTED RC
  step_names+=("$1")
  step_seconds+=("$(($(date +%s) - $2))")
  [ "$3" -eq 0 ] || { step_names[-1]+=" (FAILED)"; exit "$3"; }
}

# step NAME COMMAND...: runs COMMAND, records its wall time under NAME (a failed step is
# recorded too, then the script stops).
step() {
  local name=$1
  shift
  echo "== step: $name"
  local started rc=0
  started=$(date +%s)
  "$@" || rc=$?
  record "$name" "$started" "$rc"
}

# ctest_step NAME CTEST-ARGS...: a ctest run as a step, then its 15 slowest tests.
ctest_step() {
  local name=$1
  shift
  local log="$logs/${name//[^a-zA-Z0-9]/_}.log"
  step "$name" bash -c 'ctest "$@" 2>&1 | tee "$0"; exit "${PIPESTATUS[0]}"' "$log" "$@"
  echo "== slowest 15 tests of '$name'"
  # awk reads to the end: `head` would close the pipe early and sort's SIGPIPE fail the run.
  sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) .* ([0-9.]+) sec$/\2 \1/p' "$log" | sort -rn |
    awk 'NR <= 15 { printf "  %8.1f s  %s\n", $1, $2 }'
}

# One background step at a time: its own process group (so a failure elsewhere stops all of
# it), its output in a log printed when it ends.
background_name="" background_log="" background_started=0
start_background() {
  background_name=$1
  shift
  background_log="$logs/${background_name//[^a-zA-Z0-9]/_}.log"
  echo "== background step: $background_name (log: $background_log)"
  background_started=$(date +%s)
  setsid "$@" >"$background_log" 2>&1 &
  background_pid=$!
}
wait_background() {
  local rc=0
  wait "$background_pid" || rc=$?
  background_pid=""
  echo "== background step ended: $background_name (exit $rc); its output:"
  if [ "$rc" -eq 0 ]; then tail -5 "$background_log"; else tail -60 "$background_log"; fi
  record "$background_name" "$background_started" "$rc"
}

# run_lanes FUNCTION...: runs the functions at once, each into its own log; once all ended,
# prints each lane's result lines (its last 60 lines if it failed), adds the campaigns' own
# times to the step table, and fails if any lane failed.
run_lanes() {
  local pids=() lane rc=0 i=0
  for lane in "$@"; do
    "$lane" >"$logs/lane_$lane.log" 2>&1 &
    pids+=($!)
  done
  for lane in "$@"; do
    local lane_rc=0
    wait "${pids[$i]}" || lane_rc=$?
    i=$((i + 1))
    echo "== lane $lane (exit $lane_rc), log $logs/lane_$lane.log:"
    if [ "$lane_rc" -eq 0 ]; then
      grep -E '^== campaign|^RESULT|overlaps:|lost [0-9]' "$logs/lane_$lane.log" || true
    else
      tail -60 "$logs/lane_$lane.log"
      rc=$lane_rc
    fi
    local line
    while read -r line; do
      [[ $line =~ ^==\ campaign\ (.*):\ ([0-9]+)\ s, ]] || continue
      step_names+=("  in lane: campaign ${BASH_REMATCH[1]}")
      step_seconds+=("${BASH_REMATCH[2]}")
    done <"$logs/lane_$lane.log"
  done
  return "$rc"
}

step "install-deps" scripts/install-deps.sh
step "fetch test brokers (Artemis, Maven, cached)" scripts/fetch-test-brokers.sh

step "build debug (ASan+UBSan)" bash -c 'cmake --preset debug >/dev/null && cmake --build --preset debug'

start_background "builds ahead: tsan, release (nice 19, beside the debug tests)" \
  nice -n 19 bash -c '
    set -e
    cmake --preset tsan >/dev/null && cmake --build --preset tsan
    cmake --preset release >/dev/null && cmake --build --preset release --target micro-integration fault_campaign'
ctest_step "ctest debug (ASan+UBSan), every test" --preset debug -j 2
wait_background

start_background "builds ahead: package, fuzz (nice 19, beside the tsan tests)" \
  nice -n 19 bash -c 'scripts/package-test.sh --build-only && scripts/fuzz.sh --build-only'
ctest_step "ctest tsan, every test but the cluster and Artemis suites" --preset tsan -j 2 -LE cluster -E '[Aa]rtemis'
wait_background

step "package test" scripts/package-test.sh

# The four campaigns in two lanes side by side (each its own brokers, ports and network
# namespaces; they mostly wait on their fault schedules): 0-9-1 with 40 faults in one lane,
# the three shorter ones in the other.
campaign() {  # campaign ARGS...: one campaign on the release build made above, timed
  local started=$SECONDS rc=0
  SKIP_BUILD=1 scripts/fault-campaign.sh "$@" || rc=$?
  echo "== campaign $*: $((SECONDS - started)) s, exit $rc"
  return "$rc"
}
campaign_lane_0_9_1() { campaign --seed 1 --faults 40; }
campaign_lane_others() {
  local rc=0
  # The management session over AMQP 1.0 (the broker's AMQP 1.0 plugin), shorter.
  campaign --seed 1 --faults 12 --session-protocol amqp-1.0 || rc=1
  # The management session over AMQP 1.0 on ActiveMQ Artemis (an exclusive queue), data on RabbitMQ.
  campaign --seed 1 --faults 12 --broker artemis || rc=1
  # On a three-node RabbitMQ cluster in network namespaces (as root): node partitions, kills
  # and restarts among the process faults.
  campaign --cluster --seed 1 --faults 6 || rc=1
  return "$rc"
}
step "campaigns in two lanes: 0-9-1 40 faults | AMQP 1.0, Artemis 12 each, cluster 6" \
  run_lanes campaign_lane_0_9_1 campaign_lane_others

step "fuzz, ${FUZZ_SECONDS:-20} s per target, two at a time" scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
