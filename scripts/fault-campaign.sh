#!/usr/bin/env bash
# Fault campaign with an independent single-leader checker (release build):
#   scripts/fault-campaign.sh [--cluster] [--seed N] [--faults N] [--session-protocol amqp-1.0] [--broker artemis]
#   (defaults: seed 1, 12 faults, AMQP 0-9-1; --broker artemis: the session over AMQP 1.0 on a
#   private ActiveMQ Artemis, the data on RabbitMQ)
# The same seed replays the same sequence of faults. Exit code 1 if the checker finds an
# overlap of active instances, a lost message or an out-of-order epoch. --cluster: on three
# RabbitMQ nodes in network namespaces (as root), with node partitions, kills and restarts.
# SKIP_BUILD=1: use build/release as it is (scripts/test.sh builds it once, then runs two
# campaigns at a time, which must not both run ninja in one build directory).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  scripts/install-deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target fault_campaign micro-integration
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"); date: $(date -u +%Y-%m-%d)"
build/release/bench/fault_campaign "$@"
