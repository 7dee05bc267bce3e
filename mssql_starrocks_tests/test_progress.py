"""The run's progress (terminal/progress.py) follows each check, also when one step judges several
(a table's Iceberg checks, its StarRocks checks): each has its own verdict, and one that raised
is the one that failed, not the others of its step."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from mssql_starrocks.defs.migration import executor
from mssql_starrocks.lib import tables
from mssql_starrocks.lib.config import TABLES_FILE_ENV
from mssql_starrocks.terminal import progress as pg

FIXTURE = Path(__file__).parent / "fixtures" / "tables.yaml"


@dg.asset(key=["starrocks", "d", "t"])
def table():
    return dg.MaterializeResult(metadata={"dagster/row_count": 3})


@dg.multi_asset_check(specs=[dg.AssetCheckSpec("counts_match", asset=table.key, blocking=True),
                             dg.AssetCheckSpec("profile_matches", asset=table.key),
                             dg.AssetCheckSpec("unreachable", asset=table.key)], name="checks__t")
def checks():
    yield dg.AssetCheckResult(asset_key=table.key, check_name="counts_match", passed=True)
    yield dg.AssetCheckResult(asset_key=table.key, check_name="profile_matches", passed=False,
                              severity=dg.AssetCheckSeverity.WARN, description="1 of 3 measures differ")
    raise ConnectionError("SQL Server 127.0.0.1:9 refused the connection")


def test_each_check_of_a_step_has_its_own_verdict(monkeypatch):
    monkeypatch.setenv(TABLES_FILE_ENV, str(FIXTURE))
    tables._cached.cache_clear()
    defs = dg.Definitions(assets=[table], asset_checks=[checks], executor=executor.threaded_executor)
    graph = defs.resolve_asset_graph()
    progress = pg.RunProgress(graph, {table.key})
    with dg.DagsterInstance.ephemeral() as instance:
        result = executor.execute_in_process(defs.resolve_implicit_global_asset_job_def(), instance=instance,
                                             asset_selection=[table.key], concurrency=2)
        finished = progress.update(instance.all_logs(result.run_id))
    by_step = {s.step: s for s in progress.steps.values()}
    assert set(by_step) == {"materialize", "check counts_match", "check profile_matches", "check unreachable"}
    assert (by_step["check counts_match"].status, by_step["check counts_match"].passed) == ("done", True)
    assert (by_step["check profile_matches"].status, by_step["check profile_matches"].passed) == ("done", False)
    assert by_step["check profile_matches"].message == "1 of 3 measures differ"
    unreachable = by_step["check unreachable"]
    assert unreachable.status == "failed" and unreachable.passed is None
    assert "checks__t" in unreachable.message  # the step's failure (its cause is in the error's chain)
    assert len(finished) == 4
    [summary] = pg.summarize(progress, now=0.0)
    assert (summary.checks_passed, summary.checks_failed) == (1, 2)
