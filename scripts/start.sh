#!/usr/bin/env bash
# `npm start`: the main job on the embedded default (local PostgreSQL + local S3-protocol server).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/ensure-deps.sh
exec node bin/ops.js demo "$@"
