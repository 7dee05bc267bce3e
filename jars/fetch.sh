#!/usr/bin/env bash
# Fetch the pinned jars named in jars/pom.xml with Maven (idempotent): the product's into jars/lib/,
# the Spark Connect server plugin into jars/connect/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
stamp="$here/lib/.pom.sha256"
want="$(sha256sum "$here/pom.xml" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
rm -rf "$here/lib" "$here/connect"
mkdir -p "$here/lib" "$here/connect"
# The local repository lives inside the checkout so nothing is cached outside it.
copy() {
  mvn -q -B -f "$here/pom.xml" \
    -Dmaven.repo.local="$here/.m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DexcludeTransitive=true -DincludeScope=runtime "$@"
}
# jars/lib: what the product puts on spark.jars; jars/connect: the Spark Connect server plugin.
copy -DoutputDirectory="$here/lib" -DexcludeArtifactIds=spark-connect_2.12
copy -DoutputDirectory="$here/connect" -DincludeArtifactIds=spark-connect_2.12
echo "$want" > "$stamp"
ls "$here/lib" "$here/connect"
