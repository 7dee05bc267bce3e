"""Write the stand-ins' conformance table into docs/devservers.md from the last suite run.

    .venv/bin/python -m pytest mssql_starrocks_tests/devservers/conformance
    .venv/bin/python scripts/conformance_table.py

Reads test-output/conformance.json (written by the suite's conftest) and replaces the lines
between the `conformance:start` and `conformance:end` markers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "test-output" / "conformance.json"
DOC = ROOT / "docs" / "devservers.md"
START, END = "<!-- conformance:start -->", "<!-- conformance:end -->"


def render(results: dict[str, dict[str, int]]) -> str:
    lines = ["| area | cases | passing |", "| --- | ---: | ---: |"]
    for area, counts in sorted(results.items()):
        lines.append(f"| {area} | {counts['cases']} | {counts['passing']} |")
    total = sum(c["cases"] for c in results.values()), sum(c["passing"] for c in results.values())
    lines.append(f"| **all** | **{total[0]}** | **{total[1]}** |")
    return "\n".join(lines)


def main() -> int:
    if not RESULTS.exists():
        print(f"{RESULTS} is missing: run the conformance suite first "
              "(.venv/bin/python -m pytest mssql_starrocks_tests/devservers/conformance)", file=sys.stderr)
        return 1
    text = DOC.read_text()
    if START not in text or END not in text:
        print(f"{DOC} has no {START} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{render(json.loads(RESULTS.read_text()))}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
