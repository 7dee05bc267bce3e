#!/usr/bin/env bash
# Prepare $DAGSTER_HOME: create it and install scripts/dagster.yaml unless it has a dagster.yaml of its own.
set -euo pipefail
: "${DAGSTER_HOME:?set DAGSTER_HOME}"
mkdir -p "$DAGSTER_HOME"
if [[ ! -s "$DAGSTER_HOME/dagster.yaml" ]]; then
  cp "$(dirname "$0")/dagster.yaml" "$DAGSTER_HOME/dagster.yaml"
fi
