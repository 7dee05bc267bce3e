"""The threaded executor (defs/migration/executor.py) on plain Dagster assets: several steps at
once up to the limit and never more, dependencies and blocking checks kept, a failure stops only
what depends on it, retries still happen; and the concurrency setting is checked."""

from __future__ import annotations

import gc
import logging
import threading
import time

import dagster as dg
import pytest

from mssql_starrocks import settings
from mssql_starrocks.defs.migration import executor


class Overlap:
    """How many asset bodies ran at the same moment, at most."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.order: list[str] = []

    def run(self, name: str, seconds: float = 0.3) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.order.append(f"start {name}")
        time.sleep(seconds)
        with self.lock:
            self.now -= 1
            self.order.append(f"end {name}")


def _table(overlap: Overlap, name: str, failing: str | None, flaky: dict | None):
    @dg.asset(key=["raw", name], retry_policy=dg.RetryPolicy(max_retries=1, delay=0))
    def raw():
        overlap.run(f"raw {name}")
        if flaky is not None and name in flaky and not flaky[name]:
            flaky[name] = True
            raise RuntimeError(f"{name}: connection reset")
        return dg.MaterializeResult(metadata={"rows": 1})

    @dg.asset(key=["starrocks", name], deps=[raw.key])
    def starrocks():
        overlap.run(f"starrocks {name}")
        if name == failing:
            raise dg.Failure(f"{name}: starrocks load failed [starrocks load]", allow_retries=False)

    @dg.asset_check(asset=raw.key, name="rows_match", blocking=True)
    def check():
        overlap.run(f"check {name}", 0.05)
        return dg.AssetCheckResult(passed=True)

    return [raw, starrocks], check


def _tables(overlap: Overlap, n: int, failing: str | None = None, flaky: dict | None = None):
    assets, checks = [], []
    for i in range(n):
        table_assets, check = _table(overlap, f"t{i}", failing, flaky)
        assets += table_assets
        checks.append(check)
    return assets, checks


def _run(assets, checks, concurrency: int, instance: dg.DagsterInstance | None = None):
    defs = dg.Definitions(assets=assets, asset_checks=checks, executor=executor.threaded_executor)
    job = defs.resolve_implicit_global_asset_job_def()
    if instance is not None:
        return executor.execute_in_process(job, instance=instance, asset_selection=[a.key for a in assets],
                                           concurrency=concurrency)
    with dg.DagsterInstance.ephemeral() as own:  # disposed in this thread, where its SQLite connections were made
        return executor.execute_in_process(job, instance=own, asset_selection=[a.key for a in assets],
                                           concurrency=concurrency)


def _events(result, kind: str) -> list:
    return [e for e in result.all_events if e.event_type_value == kind]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_steps_run_side_by_side_up_to_the_limit_and_in_dependency_order(concurrency):
    overlap = Overlap()
    assets, checks = _tables(overlap, 6)
    result = _run(assets, checks, concurrency)
    assert result.success
    assert overlap.most == concurrency  # six tables give enough ready steps to fill the limit
    assert len(_events(result, "ASSET_MATERIALIZATION")) == 12
    assert len(_events(result, "ASSET_CHECK_EVALUATION")) == 6
    for i in range(6):  # a table's load starts after its extract and its blocking check ended
        order = overlap.order
        assert order.index(f"end raw t{i}") < order.index(f"start check t{i}")
        assert order.index(f"end check t{i}") < order.index(f"start starrocks t{i}")


def test_a_failing_table_stops_only_its_own_later_steps():
    overlap = Overlap()
    assets, checks = _tables(overlap, 5, failing="t2")
    result = _run(assets, checks, 3)
    assert not result.success
    failures = _events(result, "STEP_FAILURE")
    assert [e.step_key for e in failures] == ["starrocks__t2"]
    assert "t2: starrocks load failed [starrocks load]" in failures[0].event_specific_data.error.message
    materialized = {e.asset_key.to_user_string() for e in _events(result, "ASSET_MATERIALIZATION")}
    assert materialized == {f"{layer}/t{i}" for i in range(5) for layer in ("raw", "starrocks")} - {"starrocks/t2"}
    assert all(e.event_specific_data.passed for e in _events(result, "ASSET_CHECK_EVALUATION"))


def test_a_transient_failure_is_retried_by_the_policy():
    overlap = Overlap()
    flaky = {"t1": False}
    assets, checks = _tables(overlap, 3, flaky=flaky)
    result = _run(assets, checks, 2)
    assert result.success and flaky["t1"]
    assert [e.step_key for e in _events(result, "STEP_UP_FOR_RETRY")] == ["raw__t1"]
    assert overlap.order.count("start raw t1") == 2


def test_the_concurrency_setting_and_its_bad_values():
    assert settings.concurrency({}) == settings.DEFAULT_CONCURRENCY
    assert settings.concurrency({"MSSQL_STARROCKS_CONCURRENCY": "8"}) == 8
    for bad in ("0", "-2", "four", "1.5"):
        with pytest.raises(ValueError, match=rf"MSSQL_STARROCKS_CONCURRENCY='{bad}' is not a whole number"):
            settings.concurrency({"MSSQL_STARROCKS_CONCURRENCY": bad})


def test_the_executor_reads_the_setting_when_the_run_starts(monkeypatch):
    overlap = Overlap()
    assets, checks = _tables(overlap, 4)
    monkeypatch.setenv("MSSQL_STARROCKS_CONCURRENCY", "2")
    defs = dg.Definitions(assets=assets, asset_checks=checks, executor=executor.threaded_executor)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.ephemeral() as instance:
        result = executor.execute_in_process(job, instance=instance, asset_selection=[a.key for a in assets])
    assert result.success and overlap.most == 2
    assert any("Executing up to 2 step(s) at once" in (e.message or "") for e in result.all_events)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.getMessage()}: {record.exc_info[1] if record.exc_info else ''}")


def test_garbage_of_earlier_runs_is_not_closed_by_a_step_thread():
    """Runs whose ephemeral instance nobody disposed (as a caller may leave them) leave SQLite
    connections made in this thread to the garbage collector; a step thread that collects them
    made SQLAlchemy log 'SQLite objects created in a thread can only be used in that same thread'.
    The executor collects in its own thread before starting steps; a step then finds none."""
    pool_log = _Records()
    logging.getLogger("sqlalchemy.pool").addHandler(pool_log)
    gc.disable()  # the collector runs only where the test says
    try:
        for _ in range(2):
            assets, checks = _tables(Overlap(), 3)
            assert _run(assets, checks, 2, instance=dg.DagsterInstance.ephemeral()).success

        @dg.asset
        def collecting():
            gc.collect()

        with dg.DagsterInstance.ephemeral() as instance:
            assert _run([collecting], [], 2, instance=instance).success
    finally:
        gc.enable()
        logging.getLogger("sqlalchemy.pool").removeHandler(pool_log)
    assert pool_log.messages == []
