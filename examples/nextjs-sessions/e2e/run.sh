#!/usr/bin/env bash
# End-to-end test of the example in a real browser: builds keepkv from this
# repository, builds the app once (next build), then runs the scenarios in
# e2e/*.test.mjs, each starting its own keepkv processes (free loopback
# ports, temp data dirs) and its own `next start`.
#
# Needs Go, Node.js >= 20.9, the example's npm packages (npm ci) and
# Debian's chromium (/usr/bin/chromium, or CHROMIUM_PATH). It downloads no
# browser. Screenshots: e2e/screenshots/ (dashboard.png on success,
# <scenario>-failure-N.png on failure).
set -euo pipefail
app=$(cd "$(dirname "$0")/.." && pwd)
repo=$(cd "$app/../.." && pwd)

chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "e2e: $chromium is missing: apt-get install chromium" >&2; exit 1; }
[ -d "$app/node_modules/next" ] || { echo "e2e: run 'npm ci' in $app first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== e2e: building keepkv"
(cd "$repo" && go build -o "$work/keepkv" ./cmd/keepkv)
export KEEPKV_BIN="$work/keepkv"

echo "== e2e: building the app (next build)"
export NEXT_TELEMETRY_DISABLED=1
(cd "$app" && npx --no-install next build)

export CHROMIUM_PATH="$chromium"
export E2E_SCREENSHOT_DIR="${E2E_SCREENSHOT_DIR:-$app/e2e/screenshots}"
echo "== e2e: scenarios (screenshots in $E2E_SCREENSHOT_DIR)"
cd "$app"
node --test --test-concurrency=1 --test-timeout=900000 e2e/*.test.mjs
