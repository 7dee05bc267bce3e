#!/usr/bin/env bash
# Fetch the pinned jars named in jars/pom.xml into jars/lib/ with Maven (idempotent).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
stamp="$here/lib/.pom.sha256"
want="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
rm -rf "$here/lib"
mkdir -p "$here/lib"
# The local repository lives inside the checkout so nothing is cached outside it.
mvn -q -B -f "$here/pom.xml" \
  -Dmaven.repo.local="$here/.m2" \
  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
  -DoutputDirectory="$here/lib" -DexcludeTransitive=true -DincludeScope=runtime
echo "$want" > "$stamp"
ls "$here/lib"
