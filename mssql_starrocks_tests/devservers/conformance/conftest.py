"""The stand-ins' conformance suite: each case asserts, through a real client, what the real
server's documentation says, and names that page with `@pytest.mark.doc(url)`.

Cases are grouped by area (the module name without `test_`, e.g. `mssql_collation`). After a run
the per-area counts are written to `test-output/conformance.json`; `scripts/conformance_table.py`
turns them into the table in docs/devservers.md.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pymssql
import pymysql
import pytest

DOC_SITES = ("https://learn.microsoft.com/", "https://docs.starrocks.io/")
RESULTS = Path(__file__).resolve().parents[3] / "test-output" / "conformance.json"

_outcomes: dict[str, Counter] = {}


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent != here:
            continue
        item.add_marker(pytest.mark.integration)
        marker = item.get_closest_marker("doc")
        url = marker.args[0] if marker and marker.args else ""
        if not url.startswith(DOC_SITES):
            raise pytest.UsageError(
                f"{item.nodeid}: a conformance case needs @pytest.mark.doc(<url>) naming the real server's "
                f"documentation page ({' or '.join(DOC_SITES)}), got {url!r}")


def _area(nodeid: str) -> str:
    return Path(nodeid.split("::")[0]).stem.removeprefix("test_")


def pytest_runtest_logreport(report):
    if "conformance/" not in report.nodeid.replace("\\", "/"):
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        counts = _outcomes.setdefault(_area(report.nodeid), Counter())
        counts["cases"] += 1
        counts["passing"] += int(report.passed)


def pytest_sessionfinish(session):
    if not _outcomes:
        return
    RESULTS.parent.mkdir(exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous.update({area: dict(counts) for area, counts in _outcomes.items()})
    RESULTS.write_text(json.dumps(dict(sorted(previous.items())), indent=2) + "\n")


@pytest.fixture
def mssql(devservers):
    """A pymssql (FreeTDS) connection to the SQL Server stand-in's demo database, autocommit on."""
    conn = pymssql.connect(server=devservers["MSSQL_HOST"], port=devservers["MSSQL_PORT"],
                           user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                           database=devservers["MSSQL_DATABASE"], tds_version="7.4", autocommit=True)
    yield conn
    conn.close()


@pytest.fixture
def starrocks(devservers):
    """A pymysql connection to the StarRocks stand-in's query port, autocommit on."""
    conn = pymysql.connect(host=devservers["STARROCKS_HOST"], port=int(devservers["STARROCKS_QUERY_PORT"]),
                           user=devservers["STARROCKS_USER"], password=devservers["STARROCKS_PASSWORD"],
                           autocommit=True, charset="utf8mb4")
    yield conn
    conn.close()
