#!/usr/bin/env bash
# Installs the Debian 12 packages that building, running and testing need.
# Idempotent and non-interactive; run as root (or with sudo available).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libcpp-httplib-dev libssl-dev librabbitmq-dev libboost-dev libsystemd-dev
  libqpid-proton-cpp12-dev  # Qpid Proton C++: the AMQP 1.0 session transport and amqp binder
  rabbitmq-server  # the tests start private brokers from it (never the system service)
  mosquitto        # the MQTT broker the tests start privately
  iproute2         # ip netns/link: the cluster tests' network namespaces, bridge and cuts
  prometheus   # for promtool, which checks our /actuator/prometheus output in a test
  curl
  systemd      # systemd-analyze, for scripts/package-test.sh's check of the unit (nothing is started)
  wrk          # only for scripts/bench-footprint.sh (management API under load)
  clang-14 libclang-rt-14-dev  # libFuzzer for scripts/fuzz.sh, ThreadSanitizer for the tsan preset
  openjdk-17-jre-headless maven  # the JVM test brokers (ActiveMQ Artemis): scripts/fetch-test-brokers.sh
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

# Package scripts must not start daemons on this machine (prometheus and rabbitmq-server
# ship services; we only need promtool and the broker binaries for the tests' own brokers). policy-rc.d is Debian's switch for that; remove it again if it is ours.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi

echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
