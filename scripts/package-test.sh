#!/usr/bin/env bash
# Builds the way users and packagers do and checks what they get (as root; CI runs it):
#  1. plain CMake, CMAKE_BUILD_TYPE=Release (-O3, GCC 12), with warnings as errors so that a
#     new -O3 warning fails here rather than surprising a packager (who builds without them);
#  2. `cmake --install` into a staging directory: binary, default config, unit file, docs;
#  3. the Debian package (cpack -G DEB): dpkg -i, `systemd-analyze verify` of the installed
#     unit, the installed binary with the installed config as the service user
#     (--check-config, then a start: health answers, SIGTERM exits 0), dpkg --purge.
#
#   scripts/package-test.sh [--build-only]   (--build-only: step 1 alone, for a build ahead of time)
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=false
[ "${1:-}" = "--build-only" ] && build_only=true
build=build/plain-release
stage=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$stage"
  if dpkg-query -W -f='${Status}' micro-integration 2>/dev/null | grep -q installed; then
    dpkg --purge micro-integration >/dev/null || true
  fi
}
trap cleanup EXIT
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DMI_WERROR=ON \
  -DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON >/dev/null
grep -q -- '-O3' "$build/CMakeCache.txt" || fail "CMAKE_BUILD_TYPE=Release is not -O3"
cmake --build "$build" -j "${JOBS:-2}" --target micro-integration
$build_only && exit 0

DESTDIR="$stage" cmake --install "$build" >/dev/null
for f in usr/bin/micro-integration etc/micro-integration/application.yml \
         usr/lib/systemd/system/micro-integration.service usr/share/doc/micro-integration/README.md; do
  [ -f "$stage/$f" ] || fail "cmake --install did not install /$f"
done
echo "package-test: cmake --install: binary, config, unit and README in place"

(cd "$build" && cpack -G DEB >/dev/null)
deb=$(ls "$build"/micro-integration_*.deb)
dpkg-deb --field "$deb" Depends | grep -q libyaml-cpp || fail "the package does not depend on libyaml-cpp"
dpkg -i "$deb" >/dev/null
getent passwd micro-integration >/dev/null || fail "no system user micro-integration"
systemd-analyze verify /usr/lib/systemd/system/micro-integration.service || fail "systemd-analyze verify"
echo "package-test: $(basename "$deb") installed (Depends: $(dpkg-deb --field "$deb" Depends)); unit verified"

as_service() { setpriv --reuid=micro-integration --regid=micro-integration --init-groups -- "$@"; }
as_service /usr/bin/micro-integration --check-config --config /etc/micro-integration/application.yml >/dev/null ||
  fail "the installed config does not check"
port=18090
while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
(cd /var/lib/micro-integration &&
  exec setpriv --reuid=micro-integration --regid=micro-integration --init-groups -- /usr/bin/micro-integration --config /etc/micro-integration/application.yml \
    --server.port=$port) > "$stage/run.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/actuator/health" 2>/dev/null | grep -q UP && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/actuator/health" | grep -q UP || { cat "$stage/run.log"; fail "no health from the installed binary"; }
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || { cat "$stage/run.log"; fail "exit $status after SIGTERM"; }
echo "package-test: installed binary ran as micro-integration with the installed config; SIGTERM -> exit 0"

dpkg --purge micro-integration >/dev/null
[ ! -e /usr/bin/micro-integration ] && [ ! -e /etc/micro-integration ] && [ ! -e /var/lib/micro-integration ] ||
  fail "dpkg --purge left files behind"
echo "package-test: purged cleanly"
