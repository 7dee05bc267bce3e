#!/usr/bin/env bash
# Dagit on the demo (or on your own .env): the same DAGSTER_HOME the demo recorded its runs in.
set -euo pipefail
cd "$(dirname "$0")/.."
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.local/dagster_home}"
scripts/dagster_home.sh
if [[ ! -f .env && -f .env.devservers ]]; then
  set -a; . ./.env.devservers; set +a
  export MSSQL_STARROCKS_TABLES_FILE="${MSSQL_STARROCKS_TABLES_FILE:-$PWD/.local/demo/tables.yaml}"
fi
exec .venv/bin/dagster dev -w workspace.yaml -h "${DAGIT_HOST:-127.0.0.1}" -p "${DAGIT_PORT:-3000}"
