"""Splitting a table's extract into balanced, non-overlapping reads (one per Spark task).

Equal-width ranges between MIN and MAX of a key are what Spark's JDBC source does, and they
fail on skewed keys (one task reads most of the table). Here the boundaries are quantiles of
the split column: from SQL Server's own statistics histogram (`sys.dm_db_stats_histogram`,
no table scan) when one exists on that column, else from an NTILE pass over the column
(an index scan). Every row falls in exactly one split: ranges are half-open
`[low, high)`, the first also takes NULLs and everything below the first boundary, the last
everything from the last boundary up.

Which column: the configured `partition_column`, else a single-column integer/date/string
primary key. A composite key (or none) splits by `ABS(CHECKSUM(key columns)) % n`, which
balances well but makes each task scan the table, so it is used only when asked.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass
from typing import Any, Sequence

from mssql_starrocks.mapping.names import quote_tsql, tsql_escape

ROWS_PER_SPLIT = 250_000
MAX_SPLITS_PER_CORE = 4
ORDERABLE_TYPES = {"tinyint", "smallint", "int", "bigint", "decimal", "numeric", "date", "datetime", "datetime2",
                   "smalldatetime", "char", "varchar", "nchar", "nvarchar", "uniqueidentifier"}


@dataclass(frozen=True)
class SplitPlan:
    column: str | None
    predicates: tuple[str, ...]
    method: str  # "none" | "histogram" | "ntile" | "checksum"

    @property
    def count(self) -> int:
        return max(1, len(self.predicates))


def wanted_splits(row_count: int, cores: int, configured: int | str) -> int:
    """Splits for a table: the configured number, else one per ROWS_PER_SPLIT rows, capped by cores."""
    if isinstance(configured, int):
        return max(1, configured)
    by_size = math.ceil(row_count / ROWS_PER_SPLIT) if row_count > 0 else 1
    return max(1, min(by_size, max(1, cores) * MAX_SPLITS_PER_CORE))


def tsql_literal(value: Any, unicode: bool = True) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, decimal.Decimal)):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat(sep=' ', timespec='microseconds')}'"
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    return f"{'N' if unicode else ''}'{tsql_escape(str(value))}'"


def _ordered_bounds(boundaries: Sequence[Any]) -> list[Any]:
    """Distinct boundaries in SQL Server's order.

    Numbers and dates sort the same in Python; strings and uniqueidentifiers do not (the column's
    collation, e.g. case-insensitive 'a' < 'B' < 'c', where Python has 'B' < 'a' < 'c'; GUIDs
    by their last byte group first), so those keep the order SQL Server returned them in (NTILE
    and histogram steps come sorted by the column). Re-sorting them in Python would make ranges
    that overlap or leave gaps under the collation: rows read twice or never.
    """
    present = [b for b in boundaries if b is not None]
    if all(isinstance(b, (int, float, decimal.Decimal, dt.date)) for b in present):
        return sorted(set(present))
    out: list[Any] = []
    for b in present:
        if b not in out:
            out.append(b)
    return out


def range_predicates(column: str, boundaries: Sequence[Any], unicode: bool = True) -> tuple[str, ...]:
    """Half-open ranges around distinct boundaries (in SQL Server's order); NULLs go to the first range.

    `unicode=False` for a char/varchar column: its bounds are compared as varchar, with the same
    collation rules its NTILE / histogram order used (an N'' literal would compare as nvarchar,
    whose SQL-collation sort order can differ from varchar's).
    """
    q = quote_tsql(column)
    bounds = _ordered_bounds(boundaries)
    if not bounds:
        return ()
    lit = lambda v: tsql_literal(v, unicode)  # noqa: E731
    preds = [f"{q} < {lit(bounds[0])} OR {q} IS NULL"]
    for low, high in zip(bounds, bounds[1:]):
        preds.append(f"{q} >= {lit(low)} AND {q} < {lit(high)}")
    preds.append(f"{q} >= {lit(bounds[-1])}")
    return tuple(preds)


def checksum_predicates(columns: Sequence[str], n: int) -> tuple[str, ...]:
    expr = f"ABS(CAST(CHECKSUM({', '.join(quote_tsql(c) for c in columns)}) AS BIGINT)) % {n}"
    return tuple(f"{expr} = {i}" for i in range(n))


def pick_boundaries(histogram: Sequence[tuple[Any, int]], n: int) -> list[Any]:
    """n-1 boundaries cutting a histogram [(upper key, rows up to and including it)] into ~equal parts."""
    total = sum(rows for _, rows in histogram)
    if total <= 0 or n <= 1:
        return []
    target = total / n
    out, running, next_cut = [], 0, target
    for key, rows in histogram:
        running += rows
        if running >= next_cut and len(out) < n - 1:
            out.append(key)
            while next_cut <= running:
                next_cut += target
    return out


def histogram_sql(schema: str, table: str, column: str) -> str:
    """Steps of the statistics histogram whose leading column is `column` (SQL Server 2016 SP1 CU2+)."""
    obj = tsql_escape(f"{quote_tsql(schema)}.{quote_tsql(table)}")
    col = tsql_escape(column)
    return (
        "SELECT h.range_high_key, h.range_rows + h.equal_rows FROM sys.stats s "
        "JOIN sys.stats_columns sc ON sc.object_id = s.object_id AND sc.stats_id = s.stats_id AND sc.stats_column_id = 1 "
        "JOIN sys.columns c ON c.object_id = sc.object_id AND c.column_id = sc.column_id "
        f"CROSS APPLY sys.dm_db_stats_histogram(s.object_id, s.stats_id) h "
        f"WHERE s.object_id = OBJECT_ID(N'{obj}') AND c.name = N'{col}' ORDER BY h.step_number"
    )


def ntile_sql(schema: str, table: str, column: str, n: int) -> str:
    q = quote_tsql(column)
    return (
        f"SELECT MIN(k), COUNT_BIG(*) FROM (SELECT {q} AS k, NTILE({int(n)}) OVER (ORDER BY {q}) AS b "
        f"FROM {quote_tsql(schema)}.{quote_tsql(table)} WHERE {q} IS NOT NULL) AS x GROUP BY b ORDER BY MIN(k)"
    )


def plan_splits(client, *, schema: str, table: str, column: str | None, key_columns: Sequence[str],
                column_types: dict[str, str], row_count: int, n: int, explicit: bool = False) -> SplitPlan:
    """Decide how to split; `client.query(sql)` runs on the source. Never raises for stats gaps."""
    if n <= 1 or row_count == 0:
        return SplitPlan(None, (), "none")
    if column is None and len(key_columns) == 1 and column_types.get(key_columns[0], "") in ORDERABLE_TYPES:
        column = key_columns[0]
    if column is None:
        if explicit and key_columns:
            return SplitPlan(None, checksum_predicates(key_columns, n), "checksum")
        return SplitPlan(None, (), "none")
    unicode = column_types.get(column, "") not in ("char", "varchar")
    histogram = []
    try:
        histogram = [(r[0], int(r[1] or 0)) for r in client.query(histogram_sql(schema, table, column))]
    except Exception:  # noqa: BLE001 - statistics are an optimisation; fall back to NTILE
        histogram = []
    if histogram and sum(r for _, r in histogram) >= row_count * 0.5:
        bounds = pick_boundaries(histogram, n)
        if len(bounds) >= max(1, n // 2):
            return SplitPlan(column, range_predicates(column, bounds, unicode), "histogram")
    tiles = client.query(ntile_sql(schema, table, column, n))
    bounds = [r[0] for r in tiles][1:]  # each tile's lowest key starts a range; the first range is open
    if not bounds:
        return SplitPlan(None, (), "none")
    return SplitPlan(column, range_predicates(column, bounds, unicode), "ntile")
