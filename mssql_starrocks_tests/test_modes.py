"""Each load mode's decisions, without servers: what a run extracts and the state it reaches,
how Iceberg commits, whether StarRocks takes a delta, how strict the checks are, and whether
Spark Connect can run it. SQL Server is a fake answering the few queries the modes ask."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.lake import state
from mssql_starrocks.lib.config import TablesFileError, load_plans
from mssql_starrocks.source.mssql import SourceError
from mssql_starrocks.mapping.typemap import SourceColumn
from mssql_starrocks.modes import MERGE, MODES, OVERWRITE, SYNC

COLUMNS = [SourceColumn("id", "int", nullable=False, ordinal=1), SourceColumn("name", "nvarchar", max_length=50, ordinal=2),
           SourceColumn("rv", "rowversion", ordinal=3), SourceColumn("changed_at", "datetime2", scale=7, ordinal=4),
           SourceColumn("seq", "bigint", ordinal=5)]


class FakeSqlServer:
    """Answers the modes' position queries from fixed values; records every query."""

    def __init__(self, *, min_active_rowversion=1001, max_value=None, ct=(42, 7)):
        self.min_active_rowversion, self.max_value, self.ct = min_active_rowversion, max_value, ct
        self.queries: list[str] = []

    def query(self, sql: str):
        self.queries.append(sql)
        if "MIN_ACTIVE_ROWVERSION" in sql:
            return [(self.min_active_rowversion - 1,)]
        if re.match(r"SELECT MAX\(", sql):
            return [(self.max_value,)]
        if "CHANGE_TRACKING_CURRENT_VERSION" in sql:
            return [self.ct]
        raise AssertionError(f"unexpected query: {sql}")


def plan_for(tmp_path, entry: str):
    path = tmp_path / "tables.yaml"
    path.write_text(f"database: d\ntables:\n  - {entry}\n")
    (plan,) = load_plans(path)
    return plan, sch.build(plan.source_label, COLUMNS, key_columns=list(plan.spec.key_columns))


def extract(tmp_path, entry, committed=None, *, schema_changed=False, **server):
    plan, schema_plan = plan_for(tmp_path, entry)
    return plan, plan.mode.plan_extract(FakeSqlServer(**server), plan, schema_plan, committed or {},
                                        schema_changed=schema_changed)


FULL = "{schema: dbo, name: t}"
ROWVERSION = "{schema: dbo, name: t, load_mode: incremental, key_columns: [id], watermark_column: rv}"
DATETIME = ("{schema: dbo, name: t, load_mode: incremental, key_columns: [id], watermark_column: changed_at, "
            "lookback_seconds: 60}")
INTEGER = "{schema: dbo, name: t, load_mode: incremental, key_columns: [id], watermark_column: seq}"
DELETES = ("{schema: dbo, name: t, load_mode: incremental, key_columns: [id], watermark_column: seq, "
           "delete_detection: true}")
CT = "{schema: dbo, name: t, load_mode: change_tracking, key_columns: [id]}"


def test_there_is_one_mode_per_load_mode_of_the_tables_file():
    assert set(MODES) == {"full", "incremental", "change_tracking"}


def test_full_reads_the_whole_table_keeps_no_state_overwrites_and_reloads(tmp_path):
    plan, what = extract(tmp_path, FULL)
    mode = plan.mode
    assert (what.kind, what.state, what.reason) == (state.RUN_FULL, {}, "full load")
    assert what.query.startswith("SELECT [id] AS [id], [name] AS [name]") and what.query.endswith("FROM [dbo].[t]")
    assert state.CHANGE_OP not in what.query
    assert mode.landing_summary(what) == {state.KIND: state.RUN_FULL}
    assert mode.iceberg_commit(state.RUN_FULL, table_created=False) == OVERWRITE
    assert not mode.applies_deltas and not mode.detects_deletes(plan, what)
    # Strict checks unless SQL Server's count moved since the extract.
    assert not mode.profile_is_live(10, 10) and mode.profile_is_live(11, 10)
    assert mode.spark_connect_refusal is None


def test_rowversion_watermark_first_run_reads_everything_up_to_the_open_transactions(tmp_path):
    plan, what = extract(tmp_path, ROWVERSION, min_active_rowversion=1001)
    assert what.kind == state.RUN_FULL and what.reason == "first load"
    assert what.state == {state.WATERMARK: "1000"}
    assert what.query.endswith("WHERE [rv] <= CONVERT(BINARY(8), CAST(1000 AS BIGINT))")
    assert plan.mode.landing_summary(what) == {state.KIND: state.RUN_FULL, state.WATERMARK: "1000",
                                               state.FULL_REASON: "first load"}


def test_rowversion_watermark_then_reads_only_the_range_since_the_committed_state(tmp_path):
    plan, what = extract(tmp_path, ROWVERSION, {state.WATERMARK: "900"}, min_active_rowversion=1001)
    assert what.kind == state.RUN_DELTA and what.is_delta
    assert what.query.endswith("WHERE [rv] > CONVERT(BINARY(8), CAST(900 AS BIGINT)) AND "
                               "[rv] <= CONVERT(BINARY(8), CAST(1000 AS BIGINT))")
    assert f"'U' AS [{state.CHANGE_OP}]" in what.query
    assert what.count_query == f"SELECT COUNT_BIG(*) FROM ({what.query}) AS q"
    assert plan.mode.landing_summary(what) == {state.KIND: state.RUN_DELTA, state.WATERMARK: "1000"}


def test_a_schema_change_makes_a_watermark_run_read_everything_again(tmp_path):
    _, what = extract(tmp_path, ROWVERSION, {state.WATERMARK: "900"}, schema_changed=True)
    assert (what.kind, what.reason) == (state.RUN_FULL, "schema changed")


def test_datetime_watermark_looks_back_and_an_empty_table_is_a_full_read_without_state(tmp_path):
    high = dt.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    _, what = extract(tmp_path, DATETIME, {state.WATERMARK: "2026-01-01 00:00:00.000000"}, max_value=high)
    assert what.state == {state.WATERMARK: "2026-01-02 01:04:05.123456"}  # UTC, microseconds
    assert "DATEADD(SECOND, -60, CAST('2026-01-01 00:00:00.000000' AS DATETIME2(7)))" in what.query
    assert "minus the 60 s look-back" in what.reason
    _, empty = extract(tmp_path, DATETIME, {state.WATERMARK: "2026-01-01 00:00:00.000000"}, max_value=None)
    assert (empty.kind, empty.state, empty.reason) == (state.RUN_FULL, {}, "the source table is empty")


def test_integer_watermark_reads_above_the_stored_value(tmp_path):
    _, what = extract(tmp_path, INTEGER, {state.WATERMARK: "5"}, max_value=9)
    assert what.query.endswith("WHERE [seq] > 5 AND [seq] <= 9") and what.state == {state.WATERMARK: "9"}


def test_a_watermark_on_a_column_of_another_type_is_refused(tmp_path):
    with pytest.raises(SourceError, match=r"watermark_column \[name\] is NVARCHAR"):
        extract(tmp_path, "{schema: dbo, name: t, load_mode: incremental, key_columns: [id], watermark_column: name}")


def test_delete_detection_applies_to_deltas_of_the_watermark_mode_only(tmp_path):
    plan, first = extract(tmp_path, DELETES, max_value=9)
    _, delta = extract(tmp_path, DELETES, {state.WATERMARK: "5"}, max_value=9)
    assert not plan.mode.detects_deletes(plan, first) and plan.mode.detects_deletes(plan, delta)
    other, _ = extract(tmp_path, INTEGER, max_value=9)
    assert not other.mode.detects_deletes(other, delta)


@pytest.mark.parametrize("entry", [ROWVERSION, CT])
def test_merged_modes_merge_deltas_sync_full_reloads_and_take_deltas_in_starrocks(tmp_path, entry):
    plan, _ = plan_for(tmp_path, entry)
    mode = plan.mode
    assert mode.iceberg_commit(state.RUN_DELTA, table_created=False) == MERGE
    assert mode.iceberg_commit(state.RUN_FULL, table_created=False) == SYNC  # rows gone are deleted
    assert mode.iceberg_commit(state.RUN_FULL, table_created=True) == OVERWRITE
    assert mode.applies_deltas
    assert mode.profile_is_live(10, 10)  # rows written after the extract make the check warn only
    assert "CommitMetadata" in mode.spark_connect_refusal


def test_change_tracking_first_run_purged_version_schema_change_and_delta(tmp_path):
    _, first = extract(tmp_path, CT, ct=(42, 7))
    assert (first.kind, first.state, first.reason) == (state.RUN_FULL, {state.CT_VERSION: "42"}, "first load")
    _, purged = extract(tmp_path, CT, {state.CT_VERSION: "5"}, ct=(42, 7))
    assert purged.kind == state.RUN_FULL and "older than the minimum valid version 7" in purged.reason
    _, changed = extract(tmp_path, CT, {state.CT_VERSION: "10"}, schema_changed=True, ct=(42, 7))
    assert changed.reason == "schema changed"
    _, delta = extract(tmp_path, CT, {state.CT_VERSION: "10"}, ct=(42, 7))
    assert delta.kind == state.RUN_DELTA and delta.reason == "changes after version 10 up to 42"
    assert "CHANGETABLE(CHANGES [dbo].[t], 10) AS ct LEFT JOIN [dbo].[t] AS t ON t.[id] = ct.[id]" in delta.query
    assert f"CASE WHEN [__ct_op] = 'D' THEN 'D' ELSE 'U' END AS [{state.CHANGE_OP}]" in delta.query


def test_change_tracking_not_enabled_is_refused_with_the_statements_that_enable_it(tmp_path):
    with pytest.raises(SourceError, match="Change Tracking is not enabled"):
        extract(tmp_path, CT, ct=(None, None))


@pytest.mark.parametrize("entry,expected", [
    ("{schema: dbo, name: t, load_mode: incremental, key_columns: [id]}", "load_mode incremental needs watermark_column"),
    ("{schema: dbo, name: t, load_mode: change_tracking}", "load_mode change_tracking needs key_columns"),
    ("{schema: dbo, name: t, load_mode: change_tracking, key_columns: [id], delete_detection: true}",
     "delete_detection only applies to load_mode incremental (this table is change_tracking)"),
])
def test_each_mode_refuses_the_options_it_cannot_run(tmp_path, entry, expected):
    with pytest.raises(TablesFileError, match=re.escape(expected)):
        plan_for(tmp_path, entry)
