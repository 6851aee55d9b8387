#!/usr/bin/env bash
# End-to-end check of the API explorer (/docs) of every service and the console, in headless Chromium
# with every request outside 127.0.0.1 blocked: each page must render all the operations of its
# /openapi.json from the assets compiled into the binary, and the Authorize dialog's admin token must
# reach the service (a price update through try-it-out). A lab of its own (.ci/openapi-lab.sh: fresh
# database, prefixes, ports shifted by OFFSET, default 3300). Builds nothing: expects target/debug/shoplab
# and the services (cargo build --workspace), Debian's chromium and Node.
#
#   e2e/explorer/run.sh        # screenshots: target/explorer-e2e/*.png, logs: target/explorer-e2e/logs/
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="$root/target/explorer-e2e"
chromium="${CHROMIUM:-/usr/bin/chromium}"

[ -x "$root/target/debug/shoplab" ] || { echo "missing target/debug/shoplab: run 'cargo build --workspace' first" >&2; exit 1; }
[ -x "$chromium" ] || { echo "missing $chromium: apt-get install -y chromium" >&2; exit 1; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# shellcheck source=../../.ci/openapi-lab.sh
. "$root/.ci/openapi-lab.sh"
cleanup() {
  local status=$?
  lab_stop
  if [ "$status" -ne 0 ]; then
    for f in "$out"/logs/*.log; do echo "--- $f (last lines)"; tail -n 20 "$f"; done
  fi
  exit "$status"
}
trap cleanup EXIT INT TERM

mkdir -p "$out"
rm -f "$out"/*.png
lab_start "$out/logs"
CHROMIUM="$chromium" SCREENSHOTS="$out" node --test-reporter=spec "$here/explorer.test.mjs"
echo "screenshots: target/explorer-e2e/*.png"
