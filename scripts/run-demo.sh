#!/usr/bin/env bash
# Installs what is needed, builds the release preset and runs the demo: standalone mode,
# one file workflow (demo-data/inbox -> demo-data/outbox), management API on port 8090.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release

mkdir -p demo-data/inbox demo-data/outbox
cat <<'MSG'

  micro-integration demo: management API at http://127.0.0.1:8090/actuator
    curl http://127.0.0.1:8090/actuator/health
    curl -u operator:operator-demo-password http://127.0.0.1:8090/actuator/leaderelection
    echo hello > demo-data/inbox/hello.txt     # then: ls demo-data/outbox
  Ctrl-C stops it.

MSG
exec build/release/src/app/micro-integration --config config/demo/application.yml "$@"
