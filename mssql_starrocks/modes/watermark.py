"""load_mode incremental: rows above a high watermark (ROWVERSION, a datetime or an integer column).

The watermark reached lives in the summary of the Iceberg commit that wrote the rows (state.
WATERMARK), so state and data cannot disagree: a run killed anywhere re-reads from the last
committed state, and the merge by key makes re-reading harmless. The upper bound is taken
before the rows are read:

- ROWVERSION: `MIN_ACTIVE_ROWVERSION() - 1`, so rows of transactions still open (whose
  rowversion is already assigned but not yet visible) are not skipped;
- datetime / identity: `MAX(column)`, with a configurable look-back for late datetimes.

The first run, and a run after a schema change, reads everything up to the high mark. With
delete_detection a delta also marks keys gone from SQL Server (a full key scan).
"""

from __future__ import annotations

from mssql_starrocks.lake import state
from mssql_starrocks.source.mssql import SourceError
from mssql_starrocks.mapping.names import quote_tsql
from mssql_starrocks.mapping.typemap import datetime_text
from mssql_starrocks.modes.base import ExtractPlan, LoadMode, ModeError, base_type, full_query, select_list, source_table

ROWVERSION_TYPES = ("timestamp", "rowversion")
DATETIME_TYPES = ("datetime", "datetime2", "smalldatetime", "date", "datetimeoffset")
INTEGER_TYPES = ("tinyint", "smallint", "int", "bigint")


class WatermarkMode(LoadMode):
    name = "incremental"
    spark_connect_refusal = (
        "merge their changes with MERGE INTO, whose Iceberg commit must carry the "
        "run's state in its snapshot summary; Iceberg 1.10 on Spark 3.5 takes such properties for MERGE only "
        "through a call into the driver's JVM (CommitMetadata), which a Spark Connect client does not have. "
        "Give them load_mode full, or run them with SPARK_MASTER (local[*], spark://, yarn, k8s://)")

    def validate_options(self, plan, where) -> None:
        if not plan.spec.watermark_column:
            raise ModeError(f"{where}: load_mode incremental needs watermark_column "
                            "(a ROWVERSION, a modified-at datetime or an identity column)")

    def detects_deletes(self, plan, extract) -> bool:
        return bool(plan.spec.delete_detection) and extract.is_delta

    def plan_extract(self, client, plan, schema_plan, committed, *, schema_changed) -> ExtractPlan:
        column = plan.spec.watermark_column
        kind = base_type(schema_plan, column)
        q = quote_tsql(column)
        if kind in ROWVERSION_TYPES:
            high_text = str(int(client.query("SELECT CAST(MIN_ACTIVE_ROWVERSION() AS BIGINT) - 1")[0][0]))
            upper = f"{q} <= CONVERT(BINARY(8), CAST({high_text} AS BIGINT))"

            def lower(low: str) -> str:
                return f"{q} > CONVERT(BINARY(8), CAST({int(low)} AS BIGINT))"
        elif kind in DATETIME_TYPES or kind in INTEGER_TYPES:
            high = client.query(f"SELECT MAX({q}) FROM {source_table(plan)}")[0][0]
            if high is None:
                return ExtractPlan(state.RUN_FULL, full_query(plan, schema_plan, with_op=True), {},
                                   "the source table is empty")
            if kind in INTEGER_TYPES:
                high_text = str(int(high))
                upper = f"{q} <= {high_text}"

                def lower(low: str) -> str:
                    return f"{q} > {int(low)}"
            else:
                high_text = datetime_text(high)
                upper = f"{q} <= CAST('{high_text}' AS DATETIME2(7))"

                def lower(low: str) -> str:
                    return f"{q} > DATEADD(SECOND, -{int(plan.spec.lookback_seconds)}, CAST('{low}' AS DATETIME2(7)))"
        else:
            raise SourceError(
                f"table {plan.source_label}: watermark_column [{column}] is {kind.upper()}; it must be ROWVERSION, "
                "a date/time type or an integer type"
            )
        reached = {state.WATERMARK: high_text}
        low = committed.get(state.WATERMARK)
        if low is None or schema_changed:
            # Everything up to the high mark; rows written after it are read by the next run.
            reason = "first load" if low is None else "schema changed"
            return ExtractPlan(state.RUN_FULL, full_query(plan, schema_plan, with_op=True) + f" WHERE {upper}",
                               reached, reason)
        query = f"SELECT {select_list(schema_plan)}, 'U' AS {quote_tsql(state.CHANGE_OP)} FROM {source_table(plan)}"
        lookback = plan.spec.lookback_seconds if kind in DATETIME_TYPES else 0
        since = f"{low} minus the {lookback} s look-back" if lookback else low
        return ExtractPlan(state.RUN_DELTA, f"{query} WHERE {lower(low)} AND {upper}", reached,
                           f"rows with {column} in ({since}, {high_text}]")
