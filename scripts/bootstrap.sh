#!/usr/bin/env bash
# Idempotent set-up on a fresh machine: a virtualenv in .venv with the project installed
# editable (pyproject.toml must stay beside the code for Dagster's defs loader), and the Spark
# jars pinned in jars/pom.xml fetched with Maven. Needs python3 (3.10-3.12), Java 17 and Maven.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in python3 java mvn; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "bootstrap: '$tool' is not installed (on Debian/Ubuntu: sudo apt-get install -y python3-venv openjdk-17-jre-headless maven)" >&2
    exit 1
  fi
done

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
stamp=.venv/.installed.sha256
want="$(cat pyproject.toml setup.py | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  echo "$want" > "$stamp"
fi
jars/fetch.sh >/dev/null
