#!/usr/bin/env bash
# Failover-time distribution of active_standby on a private RabbitMQ broker (release build):
#   scripts/bench-failover.sh [kill-trials=50] [cut-trials=10] [amqp-0-9-1|amqp-1.0]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target failover_bench micro-integration
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"); date: $(date -u +%Y-%m-%d)"
build/release/bench/failover_bench "${1:-50}" "${2:-10}" "${3:-amqp-0-9-1}"
