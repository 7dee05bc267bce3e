"""What an extract reads: the whole table, rows above a watermark, or Change Tracking changes.

The state (high watermark or Change Tracking version) lives in the summary of the Iceberg
commit that wrote the rows it describes, so state and data cannot disagree: a run killed
anywhere re-reads from the last committed state, and the merge by key makes re-reading
harmless. Upper bounds are taken before the rows are read:

- ROWVERSION: `MIN_ACTIVE_ROWVERSION() - 1`, so rows of transactions still open (whose
  rowversion is already assigned but not yet visible) are not skipped;
- datetime / identity: `MAX(column)`, with a configurable look-back for late datetimes;
- Change Tracking: `CHANGE_TRACKING_CURRENT_VERSION()`; if the stored version is older than
  `CHANGE_TRACKING_MIN_VALID_VERSION(table)`, changes were purged and a full reload is done.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mssql_starrocks.lib import iceberg as ice
from mssql_starrocks.lib.config import TablePlan
from mssql_starrocks.lib.mssql import MssqlClient, SourceError
from mssql_starrocks.lib.names import quote_tsql
from mssql_starrocks.lib.schema import TableSchemaPlan

KIND_KEY = ice.SUMMARY_PREFIX + "kind"  # "full" | "delta"
WATERMARK_KEY = ice.SUMMARY_PREFIX + "watermark"
CT_VERSION_KEY = ice.SUMMARY_PREFIX + "ct_version"
FULL_REASON_KEY = ice.SUMMARY_PREFIX + "full_reason"
CHANGE_COUNT_KEY = ice.SUMMARY_PREFIX + "source_change_count"  # rows the delta read, counted by SQL Server
CHANGE_OP = "_change_op"  # landing-only column: I(nsert) / U(psert) / D(elete)
CT_OP, CT_VER = "__ct_op", "__ct_version"

ROWVERSION_TYPES = ("timestamp", "rowversion")
DATETIME_TYPES = ("datetime", "datetime2", "smalldatetime", "date", "datetimeoffset")
INTEGER_TYPES = ("tinyint", "smallint", "int", "bigint")


@dataclass(frozen=True)
class ExtractPlan:
    kind: str  # "full" | "delta"
    query: str  # T-SQL selecting the landed columns (+ CHANGE_OP for delta modes)
    state: dict[str, str]  # summary entries this extract reaches (watermark / ct_version)
    reason: str  # why full, or what range is read

    @property
    def count_query(self) -> str:
        return f"SELECT COUNT_BIG(*) FROM ({self.query}) AS q"


def committed_state(spark, iceberg_table: str) -> dict[str, str]:
    """The summary of the Iceberg table's last snapshot this project committed ({} if none)."""
    if not ice.table_exists(spark, iceberg_table):
        return {}
    snap = ice.last_own_snapshot(spark, iceberg_table)
    return dict(snap["summary"]) if snap else {}


def _base_type(schema_plan: TableSchemaPlan, source_column: str) -> str:
    for c in schema_plan.data_columns:
        if c.source_name == source_column:
            return (c.source_type or "").split("(")[0].lower()
    raise SourceError(f"table {schema_plan.table_label}: column [{source_column}] does not exist in SQL Server")


def _table(plan: TablePlan) -> str:
    return f"{quote_tsql(plan.source_schema)}.{quote_tsql(plan.source_table)}"


def _select(schema_plan: TableSchemaPlan) -> str:
    return ", ".join(f"{c.select_sql} AS {quote_tsql(c.name)}" for c in schema_plan.data_columns)


def full_query(plan: TablePlan, schema_plan: TableSchemaPlan, *, with_op: bool) -> str:
    op = f", 'I' AS {quote_tsql(CHANGE_OP)}" if with_op else ""
    return f"SELECT {_select(schema_plan)}{op} FROM {_table(plan)}"


def plan_extract(client: MssqlClient, plan: TablePlan, schema_plan: TableSchemaPlan,
                 committed: dict[str, str], *, schema_changed: bool) -> ExtractPlan:
    """Decide what this run reads, from the committed state and the source's current position."""
    if plan.load_mode == "full":
        return ExtractPlan("full", full_query(plan, schema_plan, with_op=False), {}, "full load")
    if plan.load_mode == "incremental":
        return _plan_incremental(client, plan, schema_plan, committed, schema_changed)
    return _plan_change_tracking(client, plan, schema_plan, committed, schema_changed)


def _plan_incremental(client, plan, schema_plan, committed, schema_changed) -> ExtractPlan:
    column = plan.spec.watermark_column
    kind = _base_type(schema_plan, column)
    q = quote_tsql(column)
    if kind in ROWVERSION_TYPES:
        high_text = str(int(client.query("SELECT CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT) - 1")[0][0]))
        upper = f"{q} <= CONVERT(BINARY(8), CAST({high_text} AS BIGINT))"

        def lower(low: str) -> str:
            return f"{q} > CONVERT(BINARY(8), CAST({int(low)} AS BIGINT))"
    elif kind in DATETIME_TYPES or kind in INTEGER_TYPES:
        high = client.query(f"SELECT MAX({q}) FROM {_table(plan)}")[0][0]
        if high is None:
            return ExtractPlan("full", full_query(plan, schema_plan, with_op=True), {}, "the source table is empty")
        if kind in INTEGER_TYPES:
            high_text = str(int(high))
            upper = f"{q} <= {high_text}"

            def lower(low: str) -> str:
                return f"{q} > {int(low)}"
        else:
            high_text = _datetime_text(high)
            upper = f"{q} <= CAST('{high_text}' AS DATETIME2(7))"

            def lower(low: str) -> str:
                return f"{q} > DATEADD(SECOND, -{int(plan.spec.lookback_seconds)}, CAST('{low}' AS DATETIME2(7)))"
    else:
        raise SourceError(
            f"table {plan.source_label}: watermark_column [{column}] is {kind.upper()}; it must be ROWVERSION, "
            "a date/time type or an integer type"
        )
    state = {WATERMARK_KEY: high_text}
    low = committed.get(WATERMARK_KEY)
    if low is None or schema_changed:
        # Everything up to the high mark; rows written after it are read by the next run.
        reason = "first load" if low is None else "schema changed"
        return ExtractPlan("full", full_query(plan, schema_plan, with_op=True) + f" WHERE {upper}", state, reason)
    query = f"SELECT {_select(schema_plan)}, 'U' AS {quote_tsql(CHANGE_OP)} FROM {_table(plan)}"
    lookback = plan.spec.lookback_seconds if kind in DATETIME_TYPES else 0
    since = f"{low} minus the {lookback} s look-back" if lookback else low
    return ExtractPlan("delta", f"{query} WHERE {lower(low)} AND {upper}", state,
                       f"rows with {column} in ({since}, {high_text}]")


def _datetime_text(value) -> str:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat() + " 00:00:00.000000"
    return str(value)


def _plan_change_tracking(client, plan, schema_plan, committed, schema_changed) -> ExtractPlan:
    obj = f"{quote_tsql(plan.source_schema)}.{quote_tsql(plan.source_table)}".replace("'", "''")
    current, min_valid = client.query(
        f"SELECT CHANGE_TRACKING_CURRENT_VERSION(), CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'{obj}'))"
    )[0]
    if current is None or min_valid is None:
        raise SourceError(
            f"table {plan.source_label}: Change Tracking is not enabled (ALTER DATABASE ... SET CHANGE_TRACKING = ON; "
            f"ALTER TABLE {_table(plan)} ENABLE CHANGE_TRACKING)"
        )
    state = {CT_VERSION_KEY: str(int(current))}
    stored = committed.get(CT_VERSION_KEY)
    if stored is None:
        return ExtractPlan("full", full_query(plan, schema_plan, with_op=True), state, "first load")
    if int(stored) < int(min_valid):
        return ExtractPlan("full", full_query(plan, schema_plan, with_op=True), state,
                           f"change tracking version {stored} is older than the minimum valid version "
                           f"{int(min_valid)} (changes were purged): full reload")
    if schema_changed:
        return ExtractPlan("full", full_query(plan, schema_plan, with_op=True), state, "schema changed")
    keys = list(plan.spec.key_columns)
    inner_cols = []
    source_names = []
    for c in schema_plan.data_columns:
        if c.source_name not in source_names:
            source_names.append(c.source_name)
    for name in source_names:
        owner = "ct" if name in keys else "t"
        inner_cols.append(f"{owner}.{quote_tsql(name)}")
    join = " AND ".join(f"t.{quote_tsql(k)} = ct.{quote_tsql(k)}" for k in keys)
    inner = (f"SELECT {', '.join(inner_cols)}, ct.SYS_CHANGE_OPERATION AS {quote_tsql(CT_OP)} "
             f"FROM CHANGETABLE(CHANGES {_table(plan)}, {int(stored)}) AS ct "
             f"LEFT JOIN {_table(plan)} AS t ON {join}")
    op = f"CASE WHEN {quote_tsql(CT_OP)} = 'D' THEN 'D' ELSE 'U' END AS {quote_tsql(CHANGE_OP)}"
    query = f"SELECT {_select(schema_plan)}, {op} FROM ({inner}) AS changes"
    return ExtractPlan("delta", query, state, f"changes after version {stored} up to {int(current)}")


def keys_query(plan: TablePlan, schema_plan: TableSchemaPlan) -> str:
    """Every key of the source, converted as the targets hold it (for delete detection)."""
    cols = ", ".join(f"{schema_plan.column(k).select_sql} AS {quote_tsql(k)}" for k in schema_plan.key_columns)
    return f"SELECT {cols} FROM {_table(plan)}"
