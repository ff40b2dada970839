#!/usr/bin/env bash
# Start-up time, resident memory, CPU per 1,000 messages (rabbit -> rabbit on a private
# RabbitMQ) and the management API under wrk (release build):
#   scripts/bench-footprint.sh [starts=20] [messages=50000] [wrk-seconds=10]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
command -v wrk >/dev/null || echo "bench-footprint: wrk is not installed; the management API part is skipped" >&2
cmake --preset release >/dev/null
cmake --build --preset release --target footprint_bench micro-integration
build/release/bench/footprint_bench "${1:-20}" "${2:-50000}" "${3:-10}"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"); date: $(date -u +%Y-%m-%d)"
