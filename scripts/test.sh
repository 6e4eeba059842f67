#!/usr/bin/env bash
# `npm test`: every test tier (unit, wiring, integration) after making sure the machine has what they need.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
exec npx vitest run "$@"
