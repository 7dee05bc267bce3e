"""Issue 7 acceptance: one table's chain migrated from the Dagster UI, driven by a real browser.

`dagster dev` runs as a user would start it, against the stand-ins, with a tables file that
`mssql-starrocks discover` wrote (cut down to two tables to keep the run short; the second one
proves that the graph filter, not luck, decides what gets materialized). Headless Chromium
launches the materialization with a click in the asset graph, follows the run in the UI until it
succeeds, and reads the row-count checks off the graph and each asset's Checks tab, each layer's
title on the graph and on the StarRocks asset's lineage, and (after a second run) the StarRocks
asset's Columns (only the key non-nullable, as StarRocks made it) and the plots of the numbers
users watch. Screenshots of each step land in test-output/.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
import yaml

from mssql_starrocks.lib.tables import LAYER_KIND, LAYER_TITLE
from mssql_starrocks_devservers import runtime, sample
from mssql_starrocks_tests import e2e

CHROMIUM = Path("/usr/bin/chromium")
TABLE = "demo/dbo/customers"
KEEP = {("dbo", "customers"), ("sales", "orders")}
# layer -> (its check, how a passing check describes the two counts it compared)
CHECKS = {
    "raw": ("row_count_matches_source", "sql_server_rows = landed_rows"),
    "iceberg": ("row_count_matches_raw", "landed_rows = iceberg_rows"),
    "starrocks": ("row_count_matches_iceberg", "iceberg_rows = starrocks_rows"),
}
# The graph filtered to the table's chain: the raw asset and everything downstream of it.
GRAPH_PATH = "/asset-groups~" + quote(f'key:"raw/{TABLE}"+', safe="")
STARTUP_TIMEOUT_S = 240
RUN_TIMEOUT_S = 600
UI_TIMEOUT_MS = 60_000

WORKSPACE_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
RUN_QUERY = """query($runId: ID!) { runOrError(runId: $runId) { __typename
  ... on Run { status assetSelection { path } } } }"""
# The graph's node facets with "Description" added to Dagit's defaults, as a user ticks it in the
# graph's facet menu (Dagit keeps the choice in localStorage): each node then shows its layer title.
NODE_FACETS = ["unsynced-tag", "description", "checks", "latest-event", "status", "kind-tag", "automation",
               "partitions"]
# What a user watches over runs, plotted from each materialization's numeric metadata.
PLOTTED = ("dagster/row_count", "duration_s", "rows_per_s", "filtered_rows")


def _sync_playwright():
    """Playwright and Debian's Chromium are requirements of this test, not options: fail loudly."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium fonts-liberation` "
                    "(.ci/run does this on a fresh machine)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `.venv/bin/pip install -e '.[dev]'`")
    return sync_playwright


def _tables_file(devservers: dict[str, str], work: Path) -> Path:
    """Discover the demo database, then keep two small tables so that `dagster dev` stays quick."""
    env_file = work / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in devservers.items()))
    discovered = work / "discovered.yaml"
    found = e2e.cli([e2e.python_bin("mssql-starrocks"), "--env-file", str(env_file), "discover",
                     "--output", str(discovered)], env={})
    assert found.returncode == 0, found.stderr + found.stdout
    data = yaml.safe_load(discovered.read_text(encoding="utf-8"))
    data["tables"] = [t for t in data["tables"] if (t["schema"], t["name"]) in KEEP]
    assert {(t["schema"], t["name"]) for t in data["tables"]} == KEEP
    tables_file = work / "tables.yaml"
    tables_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return tables_file


def _graphql(base: str, query: str, **variables) -> dict:
    response = requests.post(f"{base}/graphql", json={"query": query, "variables": variables}, timeout=30)
    response.raise_for_status()
    return response.json()["data"]


def _log_tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:] if log.exists() else ""


def _wait_until_loaded(proc: subprocess.Popen, base: str, log: Path) -> None:
    """Until the webserver answers GraphQL and every code location has loaded (or failed to)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode}:\n{_log_tail(log)}")
        try:
            workspace = _graphql(base, WORKSPACE_QUERY)["workspaceOrError"]
        except (requests.RequestException, KeyError, TypeError, ValueError):
            workspace = {}
        entries = workspace.get("locationEntries") or []
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            errors = [e["locationOrLoadError"]["message"] for e in entries
                      if e["locationOrLoadError"]["__typename"] == "PythonError"]
            assert not errors, "code location failed to load:\n" + "\n".join(errors)
            return
        time.sleep(1)
    pytest.fail(f"dagster dev did not load its code location in {STARTUP_TIMEOUT_S}s:\n{_log_tail(log)}")


def _default_sigint() -> None:
    # A shell's background job (CI, nohup, `cmd &`) starts with SIGINT ignored and Python keeps it
    # that way, so `dagster dev` would never see the Ctrl-C it shuts down its children on.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def _dagster_dev(env: dict[str, str], work: Path):
    """`dagster dev` on a free port with a fresh DAGSTER_HOME; stopped as Ctrl-C would, with its children."""
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    port = runtime.free_port()
    base = f"http://127.0.0.1:{port}"
    log = work / "dagster-dev.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [e2e.python_bin("dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=e2e.ROOT, env={**os.environ, **env, "DAGSTER_HOME": str(home)},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_default_sigint)
    try:
        _wait_until_loaded(proc, base, log)
        yield base, log
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """SIGINT to the whole group (webserver, daemon, code server, run workers); SIGKILL if it hangs."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        # The group outlives its leader when a child is slow to stop; nothing of it may stay behind.
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _wait_for_run_end(page, timeout_s: int = RUN_TIMEOUT_S) -> str:
    """The status tag the run page shows once the run has ended; reloads if live updates stall."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    ended = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$"))
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            ended.first.wait_for(timeout=30_000)
            return ended.first.inner_text()
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
            page.reload(wait_until="domcontentloaded")


def _materialize_all(page, base: str, log: Path) -> str:
    """Launch the chain from the graph's "Materialize all" and follow the run to its end; its id."""
    page.get_by_role("button", name="Materialize all").click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    toast.wait_for()
    short_id = toast.inner_text().split()[-1]
    page.get_by_role("link", name="View", exact=True).click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rsplit("/", 1)[1]
    assert run_id.startswith(short_id)
    status = _wait_for_run_end(page)
    run = _graphql(base, RUN_QUERY, runId=run_id)["runOrError"]
    assert status == "Success", f"run {run_id} ended {status} ({run}):\n{_log_tail(log)}"
    return run_id


def test_a_table_chain_materialized_from_the_ui_passes_its_checks(devservers, tmp_path, test_output):
    sync_playwright = _sync_playwright()
    from playwright.sync_api import expect

    sample.load(devservers, spec="demo")
    source_rows = e2e.mssql_rows(devservers, "SELECT COUNT(*) FROM dbo.customers")[0][0]
    env = e2e.product_env(devservers, tmp_path, _tables_file(devservers, tmp_path))
    shots = {name: test_output / f"browser-{name}.png" for name in
             ("01-graph", "02-run-success", "03-checks-passed-graph", "04-checks-raw", "04-checks-iceberg",
              "04-checks-starrocks", "05-lineage", "06-starrocks-columns", "07-starrocks-plots", "failure")}
    for shot in shots.values():
        shot.unlink(missing_ok=True)

    with _dagster_dev(env, tmp_path) as (base, log), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(UI_TIMEOUT_MS)
            # The "Join the Dagster community" dialog covers the page on localhost until dismissed;
            # dismiss it the way the UI remembers a dismissal.
            page.add_init_script("window.localStorage.setItem('communityNux', JSON.stringify('1'))")
            page.add_init_script(f"window.localStorage.setItem('asset-node-facets', '{json.dumps(NODE_FACETS)}')")
            titles = [f"{LAYER_TITLE[layer]} of {TABLE.replace('/', '.')}" for layer in CHECKS]
            try:
                # 1. The asset graph filtered to the table's chain: its three nodes, nothing else.
                page.goto(base + GRAPH_PATH, wait_until="domcontentloaded")
                expect(page.get_by_text("Never materialized", exact=True)).to_have_count(3, timeout=UI_TIMEOUT_MS)
                expect(page.get_by_text("Asset checks", exact=True)).to_have_count(3)
                # Each node, named `customers` by its key, says which layer it is: its medallion
                # kind tag (a default facet) and, with the Description facet, its layer's title.
                for medallion in (LAYER_KIND[layer].capitalize() for layer in CHECKS):  # Dagit: "Bronze", ...
                    expect(page.get_by_text(medallion, exact=True)).to_have_count(1)
                for title in titles:
                    expect(page.get_by_text(title, exact=True)).to_have_count(1)
                page.screenshot(path=shots["01-graph"])

                # 2. Launch from the UI; the toast links to the run page.
                # 3. The run page shows the run succeed; the API confirms it ran only this chain.
                run_id = _materialize_all(page, base, log)
                run = _graphql(base, RUN_QUERY, runId=run_id)["runOrError"]
                expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
                page.screenshot(path=shots["02-run-success"])
                assert run["status"] == "SUCCESS"
                assert sorted("/".join(k["path"]) for k in run["assetSelection"]) == sorted(
                    f"{layer}/{TABLE}" for layer in CHECKS)

                # 4. The checks: passed on every node of the graph, and on each asset's Checks tab
                #    with the counts they compared, which are SQL Server's.
                page.goto(base + GRAPH_PATH, wait_until="domcontentloaded")
                # raw carries one check; iceberg two (row count + source lag); starrocks two (row
                # count + column profile).
                expect(page.get_by_role("link", name="1 / 1 Passed")).to_have_count(1, timeout=UI_TIMEOUT_MS)
                expect(page.get_by_role("link", name="2 / 2 Passed")).to_have_count(2, timeout=UI_TIMEOUT_MS)
                expect(page.get_by_text("Materialized", exact=True)).to_have_count(3)
                page.screenshot(path=shots["03-checks-passed-graph"])
                for layer, (check, counts) in CHECKS.items():
                    page.goto(f"{base}/assets/{layer}/{TABLE}?view=checks", wait_until="domcontentloaded")
                    # The tab opens on the first check by name; open the row-count check.
                    page.get_by_text(check, exact=True).first.click(timeout=UI_TIMEOUT_MS)
                    expect(page.get_by_text(f"{counts} = {source_rows}", exact=True)).to_be_visible(
                        timeout=UI_TIMEOUT_MS)
                    expect(page.get_by_text(check, exact=True).first).to_be_visible()
                    expect(page.get_by_text("Succeeded", exact=True).first).to_be_visible()
                    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
                    page.screenshot(path=shots[f"04-checks-{layer}"])

                # 5. The StarRocks asset's lineage: the chain upstream of it, each node titled.
                page.goto(f"{base}/assets/starrocks/{TABLE}?view=lineage&lineageScope=upstream&lineageDepth=2",
                          wait_until="domcontentloaded")
                for title in titles:
                    expect(page.get_by_text(title, exact=True)).to_have_count(1, timeout=UI_TIMEOUT_MS)
                expect(page.get_by_text("Materialized", exact=True)).to_have_count(3, timeout=UI_TIMEOUT_MS)
                page.screenshot(path=shots["05-lineage"])

                # 6. A second materialization, then the StarRocks asset's plots of the numbers
                #    users watch (Overview > Metadata > Plots): one line per materialization.
                page.goto(base + GRAPH_PATH, wait_until="domcontentloaded")
                _materialize_all(page, base, log)
                page.goto(f"{base}/assets/starrocks/{TABLE}", wait_until="domcontentloaded")
                # Its Columns table marks non-nullable only what StarRocks created NOT NULL: the key,
                # not the other columns SQL Server declares NOT NULL (full_name, created_at, ...).
                key_row = page.locator("tr", has=page.get_by_text("customer_id", exact=True)).first  # Columns
                expect(key_row.get_by_text("non-nullable", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
                expect(page.get_by_text("non-nullable", exact=True)).to_have_count(1)
                expect(page.get_by_text("SQL Server NVARCHAR(100) [full_name] NOT NULL", exact=True)).to_be_visible()
                key_row.scroll_into_view_if_needed()
                page.screenshot(path=shots["06-starrocks-columns"])
                page.get_by_role("button", name="Plots").click(timeout=UI_TIMEOUT_MS)
                for label in PLOTTED:
                    expect(page.get_by_text(label, exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
                assert page.locator("canvas").count() >= len(PLOTTED)
                page.get_by_text("dagster/row_count", exact=True).scroll_into_view_if_needed()
                page.screenshot(path=shots["07-starrocks-plots"], full_page=True)
            except Exception:
                page.screenshot(path=shots["failure"])
                raise
        finally:
            browser.close()
