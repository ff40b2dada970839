#!/usr/bin/env bash
# Takeover time of active_standby on a three-node RabbitMQ cluster in network namespaces
# (release build; needs root): a partition of the active instance's node and a kill -9 of
# that node, with net_ticktime 60 s (RabbitMQ's default) and 10 s.
#   scripts/bench-cluster-failover.sh [trials=3]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target cluster_failover_bench micro-integration
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"); date: $(date -u +%Y-%m-%d)"
trials=${1:-3}
status=0
for ticktime in 60 10; do
  for fault in partition node-kill; do
    build/release/bench/cluster_failover_bench "$fault" "$ticktime" "$trials" || status=1
  done
done
exit $status
