#!/usr/bin/env bash
# The demo on embedded defaults: install, start the stand-in servers, load the sample database
# into the SQL Server stand-in, write a tables file from its catalog (discover), then migrate
# every table raw -> Iceberg (local catalog) -> StarRocks with all checks, headless. The runs
# are recorded in .local/dagster_home, so `make dagit` shows them afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh

export DAGSTER_HOME="$PWD/.local/dagster_home"
mkdir -p .local/demo
scripts/dagster_home.sh
export MSSQL_STARROCKS_TABLES_FILE="$PWD/.local/demo/tables.yaml"

.venv/bin/python -m mssql_starrocks_devservers up --env-file .env.devservers
.venv/bin/python -m mssql_starrocks_devservers.sample --env-file .env.devservers --spec demo
.venv/bin/mssql-starrocks --env-file .env.devservers discover --force --output "$MSSQL_STARROCKS_TABLES_FILE"
.venv/bin/mssql-starrocks --env-file .env.devservers run

cat <<MSG

Demo done: every sample table went SQL Server -> Iceberg (.local/iceberg) -> StarRocks, checks passed.
See it in Dagit:   make dagit     then open http://127.0.0.1:3000
Stop the stand-in servers when finished:   make down
MSG
