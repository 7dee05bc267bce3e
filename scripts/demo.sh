#!/usr/bin/env bash
# The demo on embedded defaults: install, then `mssql-starrocks demo`, which starts the stand-in
# servers, loads the sample database into the SQL Server stand-in, writes a tables file from its
# catalog (discover), and migrates every table raw -> Iceberg (local catalog) -> StarRocks with all
# checks, headless. The runs are recorded in .local/dagster_home, so `make dagit` shows them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/mssql-starrocks demo "$@"
