"""Column profiles compared between SQL Server and StarRocks: the data check beyond row counts.

One aggregate query on each side (no Spark, no row transfer): the row count, the non-null count
of every migrated column, MIN/MAX of exact numeric and DATE columns, and the number of distinct
keys. Equal counts with different values (a truncated text, a NULLed value, a shifted number, a
doubled key) show up here. Floating-point, date-time and text extremes are left out: their
mapped forms (rounding, microseconds, collation order) differ legitimately.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from mssql_starrocks.mapping.names import quote_backtick, quote_tsql
from mssql_starrocks.mapping.schema import TableSchemaPlan

EXACT_RANGE_TYPES = {"tinyint", "smallint", "int", "bigint", "decimal", "numeric", "money", "smallmoney", "date"}


@dataclass(frozen=True)
class Measure:
    label: str  # what the user reads, e.g. "non-null qty", "max amount"
    tsql: str
    starrocks: str


def measures(plan: TableSchemaPlan, starrocks_columns: set[str]) -> list[Measure]:
    """What to compare for the columns both sides have now (a column added since the last run is skipped)."""
    out = [Measure("rows", "COUNT_BIG(*)", "COUNT(*)")]
    for c in plan.data_columns:
        if c.name not in starrocks_columns or c.source_name is None:
            continue
        src, dst = quote_tsql(c.source_name), quote_backtick(c.name)
        # Not COUNT(col): SQL Server refuses it on TEXT/NTEXT/IMAGE. Not SUM(CASE ...): NULL on an empty table.
        out.append(Measure(f"non-null {c.name}", f"COUNT_BIG(CASE WHEN {src} IS NOT NULL THEN 1 END)", f"COUNT({dst})"))
        if c.base_type in EXACT_RANGE_TYPES:
            out.append(Measure(f"min {c.name}", f"MIN({src})", f"MIN({dst})"))
            out.append(Measure(f"max {c.name}", f"MAX({src})", f"MAX({dst})"))
    return out


@dataclass(frozen=True)
class ProfileQueries:
    """One query per side; its single row holds a value per label, in order."""

    labels: tuple[str, ...]
    tsql: str
    starrocks: str


def profile_queries(ms: list[Measure], plan: TableSchemaPlan, *, source_table: str,
                    target_table: str) -> ProfileQueries:
    """The measures, and with a key the number of distinct keys, in one query on each side: the
    aggregates and the distinct-key count (a derived table each) side by side in one row."""
    src = f"SELECT {', '.join(m.tsql for m in ms)} FROM {source_table}"
    dst = f"SELECT {', '.join(m.starrocks for m in ms)} FROM {target_table}"
    labels = tuple(m.label for m in ms)
    if not plan.key_columns:
        return ProfileQueries(labels, src, dst)
    by_name = {c.name: c for c in plan.columns}
    src_keys = ", ".join(quote_tsql(by_name[k].source_name or k) for k in plan.key_columns)
    dst_keys = ", ".join(quote_backtick(k) for k in plan.key_columns)
    src_named = ", ".join(f"{m.tsql} AS m{i}" for i, m in enumerate(ms))
    dst_named = ", ".join(f"{m.starrocks} AS m{i}" for i, m in enumerate(ms))
    return ProfileQueries(
        labels + ("distinct keys",),
        f"SELECT p.*, k.n FROM (SELECT {src_named} FROM {source_table}) AS p CROSS JOIN "
        f"(SELECT COUNT_BIG(*) AS n FROM (SELECT DISTINCT {src_keys} FROM {source_table}) AS d) AS k",
        f"SELECT p.*, k.n FROM (SELECT {dst_named} FROM {target_table}) AS p CROSS JOIN "
        f"(SELECT COUNT(*) AS n FROM (SELECT DISTINCT {dst_keys} FROM {target_table}) AS d) AS k",
    )


def _normal(value):
    """Compare numbers by value (7 = 7.00 = Decimal('7')), whatever type each driver returns."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, Decimal)):
        return Decimal(value).normalize()
    return value


def compare(labels: list[str], source: list, target: list) -> list[str]:
    """One line per differing measure: `max qty: SQL Server 120, StarRocks 119`."""
    out = []
    for label, s, t in zip(labels, source, target):
        if _normal(s) != _normal(t):
            out.append(f"{label}: SQL Server {s!s}, StarRocks {t!s}")
    return out
