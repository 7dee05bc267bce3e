"""Schema changes in SQL Server carried to Iceberg and StarRocks without half-applying anything.

The live source schema is compared with the schema the targets were built with (stored as a
table property on the Iceberg table), by target column name:

- added column: added to Iceberg (schema evolution) and StarRocks (ADD COLUMN), filled from now on;
- widened type where Iceberg allows the promotion (int -> long, float -> double, decimal
  precision up with the same scale) or only StarRocks' length grows (VARCHAR(50) -> VARCHAR(200),
  SMALLINT -> INT): the targets are altered;
- narrowed type (BIGINT -> INT, VARCHAR(200) -> VARCHAR(50)): the wider target types are kept;
- dropped column: kept on both targets and no longer filled (NULL in new rows), with a warning;
  a rename arrives as a drop plus an add;
- anything else (a type Iceberg cannot promote to, a key column changed) is refused before any
  data moves, with one message naming the table, the column, the old and the new type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from mssql_starrocks.mapping.schema import ColumnPlan, SchemaError, TableSchemaPlan


class IncompatibleSchemaChange(SchemaError):
    pass


@dataclass
class SchemaChange:
    merged: TableSchemaPlan
    added: list[ColumnPlan] = field(default_factory=list)
    widened: list[tuple[ColumnPlan, ColumnPlan]] = field(default_factory=list)
    dropped: list[ColumnPlan] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.widened or self.dropped)

    def describe(self) -> list[str]:
        lines = [f"added column {c.name} ({c.source_type})" for c in self.added]
        lines += [f"widened column {new.name}: {old.source_type} -> {new.source_type} "
                  f"(Iceberg {old.iceberg_type} -> {new.iceberg_type}, StarRocks {old.starrocks_type} -> {new.starrocks_type})"
                  for old, new in self.widened]
        lines += [f"column {c.name} ({c.source_type}) was dropped in SQL Server: kept on the targets, no longer filled"
                  for c in self.dropped]
        return lines


_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)", re.I)
_SIZED = re.compile(r"^(VARCHAR|VARBINARY|CHAR)\((\d+)\)$", re.I)
_INT_RANK = {"TINYINT": 1, "SMALLINT": 2, "INT": 3, "BIGINT": 4, "LARGEINT": 5}


def _spark_promotable(old: str, new: str) -> bool:
    if old == new:
        return True
    if (old, new) in {("int", "bigint"), ("float", "double")}:
        return True
    a, b = _DECIMAL.fullmatch(old), _DECIMAL.fullmatch(new)
    return bool(a and b and a.group(2) == b.group(2) and int(b.group(1)) >= int(a.group(1)))


def _starrocks_wider(old: str, new: str) -> str | None:
    """The StarRocks type to use for a column that was `old` and now maps to `new`, or None."""
    if old == new:
        return old
    a, b = _SIZED.match(old), _SIZED.match(new)
    if a and b and a.group(1).upper() == b.group(1).upper():
        return old if int(a.group(2)) >= int(b.group(2)) else new
    if old.upper() in _INT_RANK and new.upper() in _INT_RANK:
        return old if _INT_RANK[old.upper()] >= _INT_RANK[new.upper()] else new
    da, db = _DECIMAL.fullmatch(old), _DECIMAL.fullmatch(new)
    if da and db and da.group(2) == db.group(2):
        return old if int(da.group(1)) >= int(db.group(1)) else new
    if (old.upper(), new.upper()) == ("FLOAT", "DOUBLE"):
        return new
    return None


def diff(old: TableSchemaPlan, new: TableSchemaPlan) -> SchemaChange:
    """Compare the targets' schema with the live one; raises IncompatibleSchemaChange."""
    old_by = {c.name: c for c in old.columns}
    new_by = {c.name: c for c in new.columns}
    problems = []
    if old.key_columns != new.key_columns:
        problems.append(f"key columns changed from {list(old.key_columns)} to {list(new.key_columns)}")
    change = SchemaChange(merged=new)
    merged: list[ColumnPlan] = []
    for col in new.columns:
        before = old_by.get(col.name)
        if before is None:
            merged.append(col)
            if col.source_name is not None:
                change.added.append(col)
            continue
        sr_type = _starrocks_wider(before.starrocks_type, col.starrocks_type)
        if before.spark_type == col.spark_type or _spark_promotable(before.spark_type, col.spark_type):
            spark_col = col  # same, or widened in place (int -> long, decimal precision up)
        elif _spark_promotable(col.spark_type, before.spark_type):
            spark_col = before  # narrowed in SQL Server (BIGINT -> INT): the wider target type holds every value
        else:
            spark_col = None
        if spark_col is None or sr_type is None:
            problems.append(
                f"column {col.name}: SQL Server type changed from {before.source_type} to {col.source_type} "
                f"(Iceberg {before.iceberg_type} -> {col.iceberg_type}, StarRocks {before.starrocks_type} -> "
                f"{col.starrocks_type}), which cannot be evolved in place"
            )
            continue
        result = replace(col, spark_type=spark_col.spark_type, iceberg_type=spark_col.iceberg_type,
                         starrocks_type=sr_type, nullable=col.nullable or before.nullable)
        if result.spark_type != before.spark_type or result.starrocks_type != before.starrocks_type:
            change.widened.append((before, result))
        merged.append(result)
    for col in old.columns:
        if col.name not in new_by:
            kept = replace(col, dropped=True, nullable=True)
            merged.append(kept)
            if not col.dropped:
                change.dropped.append(kept)
    if problems:
        raise IncompatibleSchemaChange(f"table {new.table_label}: " + "; ".join(problems)
                                       + ". Nothing was changed on the targets.")
    # Audit columns stay last; dropped source columns sit before them.
    audit = [c for c in merged if c.source_name is None]
    data = [c for c in merged if c.source_name is not None]
    change.merged = TableSchemaPlan(new.table_label, tuple(data + audit), new.key_columns)
    return change


def iceberg_ddl(table: str, change: SchemaChange) -> list[str]:
    from mssql_starrocks.mapping.names import quote_backtick

    stmts = [f"ALTER TABLE {table} ADD COLUMN {quote_backtick(c.name)} {c.spark_type}" for c in change.added]
    stmts += [f"ALTER TABLE {table} ALTER COLUMN {quote_backtick(new.name)} TYPE {new.spark_type}"
              for old, new in change.widened if old.spark_type != new.spark_type]
    return stmts


def starrocks_ddl(database: str, table: str, change: SchemaChange) -> list[str]:
    from mssql_starrocks.mapping.names import quote_backtick as q

    target = f"{q(database)}.{q(table)}"
    stmts = [f"ALTER TABLE {target} ADD COLUMN {q(c.name)} {c.starrocks_type} NULL" for c in change.added]
    stmts += [f"ALTER TABLE {target} MODIFY COLUMN {q(new.name)} {new.starrocks_type} NULL"
              for old, new in change.widened if old.starrocks_type != new.starrocks_type]
    return stmts
