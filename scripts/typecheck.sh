#!/usr/bin/env bash
# Strict TypeScript over the project, then over sst.config.ts against SST's platform types (generated
# offline from the npm registry by scripts/sst-types.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
npx tsc -p tsconfig.json
bash scripts/sst-types.sh
npx tsc -p tsconfig.sst.json
echo "typecheck: ok (project and sst.config.ts)"
