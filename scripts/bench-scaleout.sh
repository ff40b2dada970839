#!/usr/bin/env bash
# active_active scale-out: messages/s with 1, 2 and 3 instances sharing a rabbit -> rabbit and
# a file -> rabbit workflow, and the CPU the broker and the instances used (release build):
#   scripts/bench-scaleout.sh [messages=100000] [files=20000] [max-instances=3]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target scaleout_bench micro-integration
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"); date: $(date -u +%Y-%m-%d)"
build/release/bench/scaleout_bench "${1:-100000}" "${2:-20000}" "${3:-3}"
