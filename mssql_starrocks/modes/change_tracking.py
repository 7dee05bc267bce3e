"""load_mode change_tracking: the rows SQL Server's Change Tracking lists since the stored version.

The version reached (`CHANGE_TRACKING_CURRENT_VERSION()`, taken before the rows are read) lives
in the summary of the Iceberg commit that wrote the rows (state.CT_VERSION). If the stored
version is older than `CHANGE_TRACKING_MIN_VALID_VERSION(table)`, changes were purged and the
whole table is read again; deletes come from Change Tracking itself.
"""

from __future__ import annotations

from mssql_starrocks.lake import state
from mssql_starrocks.source.mssql import SourceError
from mssql_starrocks.mapping.names import quote_tsql, tsql_escape
from mssql_starrocks.modes.base import ExtractPlan, LoadMode, full_query, select_list, source_table
from mssql_starrocks.modes.watermark import WatermarkMode

CT_OP = "__ct_op"


class ChangeTrackingMode(LoadMode):
    name = "change_tracking"
    spark_connect_refusal = WatermarkMode.spark_connect_refusal  # the same MERGE commit

    def plan_extract(self, client, plan, schema_plan, committed, *, schema_changed) -> ExtractPlan:
        table = source_table(plan)
        obj = tsql_escape(table)
        current, min_valid = client.query(
            f"SELECT CHANGE_TRACKING_CURRENT_VERSION(), CHANGE_TRACKING_MIN_VALID_VERSION(OBJECT_ID(N'{obj}'))"
        )[0]
        if current is None or min_valid is None:
            raise SourceError(
                f"table {plan.source_label}: Change Tracking is not enabled (ALTER DATABASE ... SET CHANGE_TRACKING = "
                f"ON; ALTER TABLE {table} ENABLE CHANGE_TRACKING)"
            )
        reached = {state.CT_VERSION: str(int(current))}
        stored = committed.get(state.CT_VERSION)
        everything = full_query(plan, schema_plan, with_op=True)
        if stored is None:
            return ExtractPlan(state.RUN_FULL, everything, reached, "first load")
        if int(stored) < int(min_valid):
            return ExtractPlan(state.RUN_FULL, everything, reached,
                               f"change tracking version {stored} is older than the minimum valid version "
                               f"{int(min_valid)} (changes were purged by retention, or the table was "
                               f"truncated): full reload")
        if schema_changed:
            return ExtractPlan(state.RUN_FULL, everything, reached, "schema changed")
        keys = list(plan.spec.key_columns)
        source_names = list(dict.fromkeys(c.source_name for c in schema_plan.data_columns))
        inner_cols = [f"{'ct' if name in keys else 't'}.{quote_tsql(name)}" for name in source_names]
        join = " AND ".join(f"t.{quote_tsql(k)} = ct.{quote_tsql(k)}" for k in keys)
        inner = (f"SELECT {', '.join(inner_cols)}, ct.SYS_CHANGE_OPERATION AS {quote_tsql(CT_OP)} "
                 f"FROM CHANGETABLE(CHANGES {table}, {int(stored)}) AS ct "
                 f"LEFT JOIN {table} AS t ON {join}")
        op = f"CASE WHEN {quote_tsql(CT_OP)} = 'D' THEN 'D' ELSE 'U' END AS {quote_tsql(state.CHANGE_OP)}"
        query = f"SELECT {select_list(schema_plan)}, {op} FROM ({inner}) AS changes"
        return ExtractPlan(state.RUN_DELTA, query, reached, f"changes after version {stored} up to {int(current)}")
