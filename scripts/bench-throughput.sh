#!/usr/bin/env bash
# rabbit -> rabbit against RabbitMQ's Shovel on the same private broker (messages/s, CPU per
# message), then rabbit -> amqp and amqp -> rabbit (AMQP 1.0 through the broker's plugin) and
# rabbit -> amqp into a private ActiveMQ Artemis, then rabbit -> mqtt throughput and end-to-end
# latency, then what the outputs' fenced write costs per message (release build):
#   scripts/bench-throughput.sh [messages=50000] [latency-rate=2000] [latency-seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/fetch-test-brokers.sh
cmake --preset release >/dev/null
cmake --build --preset release --target throughput_bench fenced_write_bench micro-integration
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"); date: $(date -u +%Y-%m-%d)"
build/release/bench/throughput_bench "${1:-50000}" "${2:-2000}" "${3:-10}"
echo
echo "the fenced write's cost per message (active_standby outputs; a 1 KiB send over loopback):"
build/release/bench/fenced_write_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true 2>/dev/null |
  grep -E '_(median|stddev) '
