#!/usr/bin/env bash
# Failover-time distribution of active_standby on a private broker (release build):
#   scripts/bench-failover.sh [kill-trials=50] [cut-trials=10] [sessions=amqp-0-9-1]
# sessions: one or more of amqp-0-9-1, amqp-1.0 (RabbitMQ's plugin), amqp-1.0-artemis
# (ActiveMQ Artemis), separated by commas, measured one after the other in this run.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target failover_bench micro-integration
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"); date: $(date -u +%Y-%m-%d)"
status=0
IFS=, read -r -a sessions <<< "${3:-amqp-0-9-1}"
for session in "${sessions[@]}"; do
  build/release/bench/failover_bench "${1:-50}" "${2:-10}" "$session" || status=1
done
exit "$status"
