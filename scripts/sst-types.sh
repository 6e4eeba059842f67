#!/usr/bin/env bash
# Generate SST's platform types (.sst/platform/config.d.ts, .sst/platform/src/**,
# .sst/platform/node_modules with @pulumi/pulumi, @pulumi/aws, ...) so that
# `tsc` can type-check sst.config.ts, without the SST CLI downloading Pulumi or
# Bun from GitHub. Needs only `npm ci` to have run and the npm registry.
#
# How: `sst install` copies the platform sources embedded in the sst binary into
# .sst/platform, resolves the providers named in sst.config.ts against the npm
# registry, installs the platform's dependencies and writes config.d.ts.
#   SST_SKIP_DEPENDENCY_CHECK=1  skips the Pulumi/Bun download check
#   SST_NO_BUN=1                 installs the platform dependencies with npm, not bun
#   XDG_CONFIG_HOME              keeps the CLI's config dir out of $HOME
#
# Idempotent: a stamp (sst version + sst.config.ts hash) makes a rerun a no-op.
# Usage: bash scripts/sst-types.sh [--force]
# Env:   SST_TYPES_STAGE (default "typecheck"), SST_TYPES_TIMEOUT (seconds, default 900)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

die() {
  echo "sst-types: $*" >&2
  exit 1
}

FORCE=0
case "${1:-}" in
  "") ;;
  --force) FORCE=1 ;;
  *) die "unknown argument '$1' (usage: bash scripts/sst-types.sh [--force])" ;;
esac

command -v node >/dev/null 2>&1 || die "node not found on PATH"
[ -f sst.config.ts ] || die "no sst.config.ts in $ROOT"
[ -f node_modules/sst/package.json ] || die "node_modules/sst is missing; run 'npm ci' first"
# The platform binary itself (what node_modules/.bin/sst would exec), so that
# `timeout` signals the CLI and not a node wrapper.
SST_BIN="$(node -e 'try { console.log(require.resolve(`sst-${process.platform}-${process.arch}/bin/sst`, { paths: [process.cwd() + "/node_modules/sst"] })) } catch { process.exit(1) }')" ||
  die "the sst CLI binary for $(node -p 'process.platform + "-" + process.arch') is not installed (optional dependency of 'sst'); run 'npm ci' first"

SST_VERSION="$(node -p 'require("./node_modules/sst/package.json").version')"
PLATFORM=.sst/platform
STAMP="$PLATFORM/.sst-types-stamp"
LOG=.sst/sst-types.log
CONFIG_HASH="$(sha256sum sst.config.ts | cut -d' ' -f1)"
WANT="sst=$SST_VERSION config=$CONFIG_HASH"

# Everything tsc needs is there: the types, the platform sources at this sst
# version, and the npm packages of the platform and of every provider in
# .sst/provider-lock.json.
complete() {
  node -e '
    const fs = require("fs");
    const p = ".sst/platform";
    const need = [p + "/config.d.ts", p + "/src/global.d.ts", p + "/src/config.ts",
      p + "/node_modules/@pulumi/pulumi/package.json"];
    let version = "";
    try { version = fs.readFileSync(p + "/version", "utf8").trim(); } catch {}
    if (version !== process.argv[1]) process.exit(1);
    try {
      for (const x of JSON.parse(fs.readFileSync(".sst/provider-lock.json", "utf8")))
        need.push(p + "/node_modules/" + x.package + "/package.json");
    } catch { process.exit(1); }
    process.exit(need.every((f) => fs.existsSync(f)) ? 0 : 1);
  ' "$SST_VERSION"
}

up_to_date() {
  [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && complete
}

# Fast path: nothing to do.
if up_to_date; then
  exit 0
fi

mkdir -p .sst
# One generator at a time (e.g. typecheck and tests started together).
exec 9>.sst/.sst-types.lock
if command -v flock >/dev/null 2>&1; then
  flock 9
  if up_to_date; then
    exit 0
  fi
fi

rm -f "$STAMP"
STAGE="${SST_TYPES_STAGE:-typecheck}"
TIMEOUT="${SST_TYPES_TIMEOUT:-900}"
XDG_DIR="$ROOT/node_modules/.cache/sst-types"
mkdir -p "$XDG_DIR"

echo "sst-types: generating .sst/platform types with sst $SST_VERSION (npm install of the platform deps; ~1 min the first time)" >&2
set +e
env \
  SST_SKIP_DEPENDENCY_CHECK=1 \
  SST_NO_BUN=1 \
  SST_TELEMETRY_DISABLED=1 \
  DO_NOT_TRACK=1 \
  XDG_CONFIG_HOME="$XDG_DIR" \
  npm_config_audit=false \
  npm_config_fund=false \
  npm_config_update_notifier=false \
  timeout --kill-after=10 "$TIMEOUT" "$SST_BIN" install --stage "$STAGE" --print-logs \
  </dev/null >"$LOG" 2>&1
rc=$?
set -e

if [ "$rc" -ne 0 ]; then
  if [ "$rc" -eq 124 ]; then
    reason="timed out after ${TIMEOUT}s"
  else
    # Most specific first: the CLI's own error, then its user-facing line.
    reason="$(grep 'msg="exited with error"' "$LOG" | grep -v 'err=<nil>' | tail -1 | sed 's/.*err=//' | tr -s '\n\t ' ' ' | cut -c1-300 || true)"
    if [ -z "$reason" ]; then
      reason="$(grep -m1 -A1 '✕' "$LOG" | sed 's/^[✕ ]*//' | tr -s '\n\t ' ' ' | cut -c1-300 || true)"
    fi
    if [ -z "$reason" ]; then
      reason="$(grep 'level=ERROR' "$LOG" | tail -1 | sed 's/.*msg=//' | tr -s '\n\t ' ' ' | cut -c1-300 || true)"
    fi
    [ -n "$reason" ] || reason="exit code $rc"
  fi
  die "'sst install' failed: $reason (it needs the npm registry to resolve providers and install the platform deps; full log: $LOG)"
fi

complete || die "'sst install' succeeded but .sst/platform is incomplete (config.d.ts, src or node_modules missing; full log: $LOG)"

echo "$WANT" >"$STAMP"
echo "sst-types: wrote .sst/platform/config.d.ts (sst $SST_VERSION)" >&2
