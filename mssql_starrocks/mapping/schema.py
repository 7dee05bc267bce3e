"""The target schema of one table: source columns -> landed/Iceberg/StarRocks columns.

Built from the live SQL Server catalog at extract time (or from the tables file's `columns`
for previews), then stored as a JSON table property on the Iceberg tables, so the StarRocks
step creates the same column types (e.g. VARCHAR byte lengths) without asking SQL Server again.
Every column that cannot be carried is reported together, by name, before any data moves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mssql_starrocks.mapping import names
from mssql_starrocks.mapping import typemap
from mssql_starrocks.mapping.names import backslash_escape, quote_backtick

SCHEMA_PROPERTY = "mssql_starrocks.columns"

# Columns the project adds to every landed row: (name, spark type, iceberg type, StarRocks type, description)
AUDIT_COLUMNS: tuple[tuple[str, str, str, str, str], ...] = (
    ("_ingested_at", "timestamp", "timestamptz", "DATETIME", "when the row was extracted (UTC)"),
    ("_dagster_run_id", "string", "string", "VARCHAR(64)", "the Dagster run that extracted the row"),
    ("_source_system", "string", "string", "VARCHAR(512)", "the SQL Server it came from"),
    ("_source_table", "string", "string", "VARCHAR(1024)", "database.schema.table it came from"),
)


class SchemaError(ValueError):
    """The table cannot be migrated as configured; the message names the table and columns."""


@dataclass(frozen=True)
class ColumnPlan:
    name: str
    source_name: str | None  # None for audit columns
    source_type: str | None
    select_sql: str | None
    spark_type: str
    iceberg_type: str
    starrocks_type: str
    nullable: bool
    note: str = ""
    dropped: bool = False  # gone from SQL Server: kept on the targets, no longer filled

    def to_json(self) -> dict:
        return self.__dict__.copy()

    @property
    def base_type(self) -> str:
        """The SQL Server type without its length/precision, lower case ("" for audit columns)."""
        return (self.source_type or "").split("(")[0].strip().lower()


@dataclass(frozen=True)
class TableSchemaPlan:
    table_label: str
    columns: tuple[ColumnPlan, ...]
    key_columns: tuple[str, ...]  # target names

    @property
    def data_columns(self) -> list[ColumnPlan]:
        """Columns read from SQL Server (not the audit columns, not columns dropped there)."""
        return [c for c in self.columns if c.source_name is not None and not c.dropped]

    def column(self, name: str) -> ColumnPlan:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_property(self) -> str:
        return json.dumps({"columns": [c.to_json() for c in self.columns], "key_columns": list(self.key_columns)},
                          separators=(",", ":"))

    @classmethod
    def from_property(cls, table_label: str, value: str) -> "TableSchemaPlan":
        data = json.loads(value)
        return cls(table_label, tuple(ColumnPlan(**c) for c in data["columns"]), tuple(data["key_columns"]))

    def starrocks_order(self) -> list[ColumnPlan]:
        """Key columns first (StarRocks requires key columns to lead), then the rest in source order."""
        keys = [self.column(k) for k in self.key_columns]
        return keys + [c for c in self.columns if c.name not in self.key_columns]


def build(table_label: str, source_columns: list[typemap.SourceColumn], *, key_columns: list[str],
          rename: dict[str, str] | None = None) -> TableSchemaPlan:
    """Plan the target columns; raises SchemaError listing every problem at once."""
    rename = rename or {}
    problems: list[str] = []
    by_name = {c.name: c for c in source_columns}
    for key in key_columns:
        if key not in by_name:
            problems.append(f"key column '{key}' does not exist (columns: {', '.join(by_name)})")

    mapped: dict[str, str] = {}
    try:
        auto = names.map_names([c.name for c in source_columns if c.name not in rename],
                               what=table_label)
        mapped.update(auto)
    except names.NameCollisionError as exc:
        problems.append(str(exc).removeprefix(table_label + ": "))
    mapped.update(rename)

    columns: list[ColumnPlan] = []
    for source in source_columns:
        target = mapped.get(source.name, names.to_target_name(source.name))
        try:
            targets = typemap.columns_for(source, target)
        except typemap.UnsupportedTypeError as exc:
            problems.append(f"column [{source.name}]: {exc}")
            continue
        for t in targets:
            columns.append(ColumnPlan(t.name, source.name, source.declared, t.select_sql, t.spark_type,
                                      t.iceberg_type, t.starrocks_type, t.nullable, t.note))
    seen: dict[str, str] = {}
    for c in columns:
        if c.name in seen:
            problems.append(f"columns [{seen[c.name]}] and [{c.source_name}] both map to '{c.name}'")
        seen[c.name] = c.source_name or c.name
    if problems:
        raise SchemaError(f"table {table_label} cannot be migrated: " + "; ".join(problems))
    for name, spark_type, iceberg_type, sr_type, note in AUDIT_COLUMNS:
        columns.append(ColumnPlan(name, None, None, None, spark_type, iceberg_type, sr_type, True, note))
    keys = tuple(mapped[k] for k in key_columns)
    return TableSchemaPlan(table_label, tuple(columns), keys)


# --- StarRocks DDL ----------------------------------------------------------------------------
PRIMARY_KEY_TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT", "DATE", "DATETIME", "VARCHAR")


# StarRocks' BE `primary_key_limit_size`: an encoded primary key value longer than this is refused
# ("primary key size exceed the limit."). Encoding: a fixed-width column takes its width; a lone
# string key its UTF-8 bytes; in a composite key every string but the last its bytes, each NUL
# byte doubled, plus a 2-byte terminator.
PRIMARY_KEY_LIMIT = 128
FIXED_KEY_BYTES = {"BOOLEAN": 1, "TINYINT": 1, "SMALLINT": 2, "INT": 4, "BIGINT": 8, "LARGEINT": 16, "DATE": 4,
                   "DATETIME": 8}


def key_worst_case_bytes(plan: TableSchemaPlan) -> int:
    """The largest encoded primary key the declared key types allow (a string's NULs not counted)."""
    total, keys = 0, list(plan.key_columns)
    for i, k in enumerate(keys):
        sr_type = plan.column(k).starrocks_type.upper()
        base = sr_type.split("(")[0]
        if base in FIXED_KEY_BYTES:
            total += FIXED_KEY_BYTES[base]
            continue
        length = int(sr_type.split("(")[1].rstrip(")")) if "(" in sr_type else typemap.STARROCKS_MAX_VARCHAR
        total += length if i == len(keys) - 1 else length + 2
    return total


def key_size_warning(plan: TableSchemaPlan, model: str) -> str | None:
    """For `plan`: why a declared primary key can exceed StarRocks' per-key limit, or None."""
    if model != "primary_key" or not plan.key_columns:
        return None
    worst = key_worst_case_bytes(plan)
    if worst <= PRIMARY_KEY_LIMIT:
        return None
    declared = ", ".join(f"{k} {plan.column(k).source_type or '?'} -> {plan.column(k).starrocks_type}"
                         for k in plan.key_columns)
    return (f"table {plan.table_label}: the primary key ({declared}) can take up to {worst} bytes in StarRocks, "
            f"over its limit of {PRIMARY_KEY_LIMIT} bytes per key value; a row whose key is longer fails the "
            "StarRocks step before anything is written. Fine if the values are short; else use a shorter key, "
            "or (load_mode full) starrocks: {model: duplicate}")


def starrocks_create_table(plan: TableSchemaPlan, database: str, table: str, *, model: str,
                           buckets: int | None, replication_num: int | None, comment: str | None = None) -> str:
    cols = plan.starrocks_order()
    keys = list(plan.key_columns)
    if model == "primary_key":
        if not keys:
            raise SchemaError(f"table {plan.table_label}: starrocks.model primary_key needs key_columns")
        for k in keys:
            base = plan.column(k).starrocks_type.split("(")[0]
            if base not in PRIMARY_KEY_TYPES:
                raise SchemaError(
                    f"table {plan.table_label}: key column '{k}' has StarRocks type {plan.column(k).starrocks_type}, "
                    f"which a PRIMARY KEY table cannot use ({', '.join(PRIMARY_KEY_TYPES)} only)"
                )
    lines = []
    for c in cols:
        # Only key columns are NOT NULL: a delete (`__op` = 1) carries just the key, and a column
        # dropped in SQL Server stops being filled; NOT NULL elsewhere would reject those rows.
        null = "NOT NULL" if c.name in keys else "NULL"
        desc = f"SQL Server {c.source_type}" if c.source_type else c.note
        lines.append(f"  {quote_backtick(c.name)} {c.starrocks_type} {null} COMMENT {_sr_string(desc)}")
    key_sql = ", ".join(quote_backtick(k) for k in keys)
    ddl = [f"CREATE TABLE {quote_backtick(database)}.{quote_backtick(table)} (", ",\n".join(lines), ")"]
    if model == "primary_key":
        ddl.append(f"PRIMARY KEY ({key_sql})")
    elif keys:
        ddl.append(f"DUPLICATE KEY ({key_sql})")
    if comment:
        ddl.append(f"COMMENT {_sr_string(comment)}")
    if keys:
        ddl.append(f"DISTRIBUTED BY HASH ({key_sql})" + (f" BUCKETS {buckets}" if buckets else ""))
    else:
        ddl.append("DISTRIBUTED BY RANDOM" + (f" BUCKETS {buckets}" if buckets else ""))
    if replication_num:
        ddl.append(f'PROPERTIES ("replication_num" = "{int(replication_num)}")')
    return "\n".join(ddl)


def _sr_string(text: str) -> str:
    return "'" + backslash_escape(text) + "'"
