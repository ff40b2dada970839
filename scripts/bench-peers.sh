#!/usr/bin/env bash
# micro-integration beside its JVM peer (Spring Boot + Spring Cloud Stream, rabbit binder,
# actuator: bench/peers/spring-cloud-stream) and the broker's own ceiling (a consume-and-publish
# loop on RabbitMQ's Java client: bench/peers/rabbitmq-ceiling), each moving the same messages
# queue to queue on one private RabbitMQ (release build; a benchmark, not CI):
#   scripts/bench-peers.sh [messages=50000]
# Maven builds the two Java programs, with versions pinned in their pom.xml, into a cache
# outside the source tree ($MI_BENCH_PEER_CACHE, default ~/.cache/micro-integration/bench-peers),
# resolving them from the repositories its own settings name.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cache=${MI_BENCH_PEER_CACHE:-$HOME/.cache/micro-integration/bench-peers}
for peer in spring-cloud-stream rabbitmq-ceiling; do
  echo "bench-peers: building bench/peers/$peer with Maven" >&2
  mvn -q -B -f "bench/peers/$peer/pom.xml" package -DskipTests -Dpeer.build.dir="$cache/$peer" >&2
done
cmake --preset release >/dev/null
cmake --build --preset release --target peers_bench micro-integration
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"); date: $(date -u +%Y-%m-%d)"
echo "java: $(java -version 2>&1 | head -1) (the JVM's default heap and GC)"
build/release/bench/peers_bench "$cache/spring-cloud-stream/scst-peer-1.jar" \
  "$cache/rabbitmq-ceiling/rabbitmq-ceiling-1.jar" "${1:-50000}"
