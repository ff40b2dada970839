#!/usr/bin/env bash
# Fetches the JVM brokers the tests start privately (never a service of this machine) into a
# cache outside the source tree, pinned by version and checked against the SHA-256 written
# here. Idempotent: a cached, checked copy is used as it is. Maven resolves the artifact from
# the repositories its own settings name (Maven Central by default).
#   scripts/fetch-test-brokers.sh                 fetch and unpack; print nothing else
#   scripts/fetch-test-brokers.sh --artemis-home  the same, then print ActiveMQ Artemis's home
# The cache: $MI_TEST_BROKER_CACHE, default ~/.cache/micro-integration/test-brokers.
set -euo pipefail

ARTEMIS_VERSION=2.40.0
# sha256sum of apache-artemis-2.40.0-bin.tar.gz as Maven Central served it on 2026-12-07.
ARTEMIS_SHA256=3add67e7b0af89f81eac1e6c577427b049b4e7502fb278c591838465d5ca93b5

cache=${MI_TEST_BROKER_CACHE:-$HOME/.cache/micro-integration/test-brokers}
mkdir -p "$cache"
# One fetch at a time (tests started side by side may each ask).
exec 9>"$cache/.lock"
flock 9

fetch_artemis() {
  local tarball="$cache/apache-artemis-$ARTEMIS_VERSION-bin.tar.gz"
  local home="$cache/apache-artemis-$ARTEMIS_VERSION"
  [ -x "$home/bin/artemis" ] && [ -e "$home/.checked" ] && return 0
  if [ ! -s "$tarball" ]; then
    command -v mvn >/dev/null || { echo "fetch-test-brokers: mvn is missing: run scripts/install-deps.sh" >&2; exit 1; }
    echo "fetch-test-brokers: fetching org.apache.activemq:apache-artemis:$ARTEMIS_VERSION (bin) with Maven" >&2
    mvn -q -B dependency:copy -Dartifact="org.apache.activemq:apache-artemis:$ARTEMIS_VERSION:tar.gz:bin" \
      -DoutputDirectory="$cache" >&2
  fi
  if ! echo "$ARTEMIS_SHA256  $tarball" | sha256sum -c --status; then
    echo "fetch-test-brokers: $tarball does not have the pinned SHA-256 $ARTEMIS_SHA256; removed" >&2
    rm -f "$tarball"
    exit 1
  fi
  rm -rf "$home"
  tar xzf "$tarball" -C "$cache"
  touch "$home/.checked"
}

fetch_artemis
if [ "${1:-}" = "--artemis-home" ]; then echo "$cache/apache-artemis-$ARTEMIS_VERSION"; fi
