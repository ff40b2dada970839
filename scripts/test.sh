#!/usr/bin/env bash
# Installs what is needed, builds the release preset (what the demo runs), the debug preset
# (ASan + UBSan) and the tsan preset (ThreadSanitizer), then runs every test, unit and
# integration, under each of the two sanitizer builds; then the package test, short fault
# campaigns and a short fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

cmake --preset release >/dev/null
cmake --build --preset release

cmake --preset debug >/dev/null
cmake --build --preset debug
ctest --preset debug -j 2

# The same suite under ThreadSanitizer (clang-14); the build also checks the lock annotations
# (-Wthread-safety, as errors). Fails on any data race or lock-order inversion it sees.
cmake --preset tsan >/dev/null
cmake --build --preset tsan
ctest --preset tsan -j 2

# Built the way users and packagers build (plain CMake, Release = -O3), installed, packaged
# as a .deb, installed with dpkg, run as the service user with the installed config, purged.
scripts/package-test.sh

# A short fault campaign (release build, a few minutes): 40 seeded faults against three
# active_standby instances under load; fails if the independent checker sees two active at
# once, a lost message, an epoch going backwards or a standby left unbound.
scripts/fault-campaign.sh --seed 1 --faults 40
# The same with the management session over AMQP 1.0 (the broker's AMQP 1.0 plugin), shorter.
scripts/fault-campaign.sh --seed 1 --faults 12 --session-protocol amqp-1.0
# The same on a three-node RabbitMQ cluster in network namespaces (as root): node partitions,
# kills and restarts among the process faults, a few minutes.
scripts/fault-campaign.sh --cluster --seed 1 --faults 6

# Hostile input: a short libFuzzer run of every fuzz target (clang-14, ASan+UBSan) on top of
# the seed-corpus replays above; fails on any crash, hang or sanitizer report.
scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
