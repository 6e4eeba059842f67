#!/usr/bin/env bash
# Makes a fresh machine ready for `npm start` and `npm test`: Node >= 20, the npm dependencies, and the
# PostgreSQL server and client programs (initdb, pg_ctl, pg_dump, pg_restore). Installs what is missing
# where it can (npm ci; Debian's postgresql via apt-get as root), else stops with a one-line instruction.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() { echo "ops-autopilot: $*" >&2; exit 1; }

major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] || fail "Node.js 20 or newer is needed (found $(node --version 2>/dev/null || echo none)); install it from nodejs.org or your package manager"

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "ops-autopilot: installing npm dependencies (npm ci) ..." >&2
  npm ci --no-audit --no-fund >&2 || fail "npm ci failed; run it yourself to see why"
fi

have_pg() {
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/pg_dump" ] && [ -x "$dir/pg_restore" ] && return 0
  done
  command -v initdb >/dev/null && command -v pg_ctl >/dev/null && command -v pg_dump >/dev/null && command -v pg_restore >/dev/null
}

if ! have_pg; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "ops-autopilot: installing PostgreSQL (apt-get install postgresql) ..." >&2
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >&2 ||
      fail "apt-get install postgresql failed; install PostgreSQL server and client programs yourself"
  else
    fail "PostgreSQL is missing: run 'sudo apt-get install -y postgresql' (or install PostgreSQL so initdb, pg_ctl, pg_dump and pg_restore are on PATH)"
  fi
  have_pg || fail "PostgreSQL was installed but initdb/pg_ctl/pg_dump/pg_restore are still not found"
fi
# As root, the test clusters belong to the postgres user (initdb refuses root): that user must exist.
if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
  useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres || fail "cannot create the postgres user that owns local clusters"
fi
# CI renders the drill chart in headless Chromium (tests/integration/chart-render.test.ts); elsewhere
# that test is skipped when Chromium is missing, so `npm start` never pulls a browser in.
if [ "${CI:-}" = true ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! command -v chromium >/dev/null; then
  echo "ops-autopilot: installing Chromium for the chart test (apt-get install chromium) ..." >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >&2 ||
    echo "ops-autopilot: apt-get install chromium failed; the chart render test will be skipped" >&2
fi
# The compiled CLI (dist/), so `ops` starts without compiling TypeScript; rebuilt when a source is newer.
if ! node --input-type=module -e '
  import { readFileSync } from "node:fs"; import { newestSourceMtime } from "./bin/sources.js";
  const stamp = JSON.parse(readFileSync("dist/.stamp.json", "utf8"));
  process.exit(stamp.newestSourceMtime >= newestSourceMtime(".") ? 0 : 1);' 2>/dev/null; then
  node scripts/build.mjs >&2 || fail "building dist/ failed; run 'npm run build' to see why"
fi
