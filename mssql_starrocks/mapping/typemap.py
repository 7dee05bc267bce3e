"""SQL Server -> Spark/Iceberg -> StarRocks type mapping: the one place it is decided.

Each SQL Server type maps to (1) the expression the extract SELECTs on the server, (2) the
Spark type the landed column gets (which fixes the Iceberg type), and (3) the StarRocks column
type. Conversions that drivers get wrong are done by SQL Server itself in the extract query:
spatial types and HIERARCHYID (Spark's JDBC source fails on their UDT type codes, e.g.
"Unrecognized SQL type -157"), SQL_VARIANT and XML (the JDBC driver fails on some variant
contents), UNIQUEIDENTIFIER (canonical lowercase text), ROWVERSION (sortable BIGINT), TIME
(exact text; Spark has no TIME type) and DATETIMEOFFSET (the UTC instant plus a companion
column with the offset in minutes, so the offset is never lost).

StarRocks VARCHAR(n) counts UTF-8 bytes: one UTF-16 code unit of NCHAR/NVARCHAR takes at most 3
UTF-8 bytes (a surrogate pair, 2 units, takes 4), and a single-byte code page character at most
3, so lengths are multiplied by 3 and capped at StarRocks' maximum VARCHAR length.
`render_markdown()` renders this table into the README.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

STARROCKS_MAX_VARCHAR = 1_048_576  # bytes, StarRocks >= 2.1
STARROCKS_MAX_VARBINARY = 1_048_576
UTF8_BYTES_PER_UNIT = 3
OFFSET_SUFFIX = "_tz_offset_min"


class UnsupportedTypeError(ValueError):
    """A column whose SQL Server type the project cannot carry."""


@dataclass(frozen=True)
class SourceColumn:
    """A column as SQL Server's catalog describes it."""

    name: str
    data_type: str  # sys.types name, lower case: "nvarchar", "decimal", ...
    max_length: int | None = None  # characters for (n)char/(n)varchar, bytes for binary; -1 = MAX
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True
    ordinal: int = 0

    @property
    def declared(self) -> str:
        """The type as written in SQL Server DDL, e.g. NVARCHAR(50), DECIMAL(19,4), DATETIME2(7)."""
        t = self.data_type.lower()
        if t in ("char", "varchar", "nchar", "nvarchar", "binary", "varbinary"):
            return f"{t.upper()}({'MAX' if self.max_length in (-1, None) else self.max_length})"
        if t in ("decimal", "numeric"):
            return f"{t.upper()}({self.precision},{self.scale})"
        if t in ("datetime2", "datetimeoffset", "time"):
            return f"{t.upper()}({7 if self.scale is None else self.scale})"
        if t == "float" and self.precision is not None and self.precision <= 24:
            return f"FLOAT({self.precision})"
        return t.upper()


@dataclass(frozen=True)
class TargetColumn:
    """One column of the landed/Iceberg/StarRocks tables, produced from a source column."""

    name: str  # target (Glue-safe) name
    source: SourceColumn
    select_sql: str  # T-SQL expression selected by the extract, aliased to `name`
    spark_type: str  # Spark SQL DDL type, e.g. "decimal(19,4)"
    iceberg_type: str  # Iceberg type name shown to users
    starrocks_type: str
    nullable: bool
    note: str = ""


@dataclass(frozen=True)
class Rule:
    sql_server: str
    iceberg: str
    starrocks: str
    note: str


# The table users read (rendered into the README). `columns_for` below implements it.
RULES: tuple[Rule, ...] = (
    Rule("BIT", "boolean", "BOOLEAN", ""),
    Rule("TINYINT", "int", "SMALLINT", "SQL Server TINYINT is unsigned 0..255; StarRocks TINYINT is signed"),
    Rule("SMALLINT", "int", "SMALLINT", ""),
    Rule("INT", "int", "INT", ""),
    Rule("BIGINT", "long", "BIGINT", ""),
    Rule("DECIMAL(p,s) / NUMERIC(p,s)", "decimal(p,s)", "DECIMAL(p,s)", "p up to 38, exact"),
    Rule("MONEY", "decimal(19,4)", "DECIMAL(19,4)", "exact"),
    Rule("SMALLMONEY", "decimal(10,4)", "DECIMAL(10,4)", "exact"),
    Rule("FLOAT / FLOAT(25..53)", "double", "DOUBLE", ""),
    Rule("REAL / FLOAT(1..24)", "float", "FLOAT", ""),
    Rule("DATE", "date", "DATE", ""),
    Rule("TIME(n)", "string", "VARCHAR(16)", "exact text `hh:mm:ss[.fffffff]` (Spark and StarRocks have no TIME column type)"),
    Rule("DATETIME", "timestamp", "DATETIME", "SQL Server's 1/300 s ticks carried as microseconds"),
    Rule("SMALLDATETIME", "timestamp", "DATETIME", ""),
    Rule("DATETIME2(n)", "timestamp", "DATETIME", "microseconds kept; DATETIME2(7) loses its 7th digit (Iceberg timestamps are microseconds)"),
    Rule("DATETIMEOFFSET(n)", "timestamptz + int", "DATETIME + SMALLINT",
         f"the UTC instant in the column, the offset in minutes in `<column>{OFFSET_SUFFIX}`; 7th digit lost as for DATETIME2"),
    Rule("CHAR(n) / VARCHAR(n)", "string", "VARCHAR(min(3n, 1048576))", "StarRocks counts UTF-8 bytes; CHAR keeps its padding"),
    Rule("NCHAR(n) / NVARCHAR(n)", "string", "VARCHAR(min(3n, 1048576))", "n UTF-16 units need up to 3n UTF-8 bytes (CJK, emoji)"),
    Rule("VARCHAR(MAX) / NVARCHAR(MAX) / TEXT / NTEXT", "string", "VARCHAR(1048576)", "a value over 1048576 UTF-8 bytes is refused by name"),
    Rule("XML", "string", "VARCHAR(1048576)", "converted to text by SQL Server"),
    Rule("BINARY(n) / VARBINARY(n)", "binary", "VARBINARY(n)", "exact bytes"),
    Rule("VARBINARY(MAX) / IMAGE", "binary", "VARBINARY(1048576)", "a value over 1048576 bytes is refused by name"),
    Rule("UNIQUEIDENTIFIER", "string", "VARCHAR(36)", "canonical lowercase text"),
    Rule("ROWVERSION / TIMESTAMP", "long", "BIGINT", "sortable; converted by SQL Server"),
    Rule("SQL_VARIANT", "string", "VARCHAR(1048576)", "text of the value, converted by SQL Server"),
    Rule("GEOGRAPHY / GEOMETRY", "string", "VARCHAR(1048576)", "WKT from SQL Server's own STAsText() (SRID not kept)"),
    Rule("HIERARCHYID", "string", "VARCHAR(4000)", "path text from SQL Server's ToString(), e.g. /1/2/"),
)

_STRING_TYPES = {"char", "varchar", "nchar", "nvarchar", "text", "ntext"}


def _bracket(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def _as_text(expr: str) -> str:
    """Date-times travel as ISO text (style 121): java.sql.Timestamp, which mssql-jdbc hands Spark,
    shifts dates before 1582 by days (Julian vs proleptic Gregorian calendar); text does not."""
    return f"CONVERT(VARCHAR(27), {expr}, 121)"


def _varchar_len(source: SourceColumn) -> int:
    if source.max_length in (None, -1) or source.data_type in ("text", "ntext"):
        return STARROCKS_MAX_VARCHAR
    return min(source.max_length * UTF8_BYTES_PER_UNIT, STARROCKS_MAX_VARCHAR)


def columns_for(source: SourceColumn, target_name: str) -> list[TargetColumn]:
    """The target column(s) for one source column; raises UnsupportedTypeError naming the type."""
    t = source.data_type.lower()
    q = _bracket(source.name)
    n = source.nullable

    def col(select: str, spark: str, iceberg: str, starrocks: str, note: str = "", name: str = target_name,
            nullable: bool = n) -> TargetColumn:
        return TargetColumn(name, source, select, spark, iceberg, starrocks, nullable, note)

    if t == "bit":
        return [col(q, "boolean", "boolean", "BOOLEAN")]
    if t == "tinyint":
        return [col(q, "int", "int", "SMALLINT", "unsigned in SQL Server")]
    if t == "smallint":
        return [col(q, "int", "int", "SMALLINT")]
    if t == "int":
        return [col(q, "int", "int", "INT")]
    if t == "bigint":
        return [col(q, "bigint", "long", "BIGINT")]
    if t in ("decimal", "numeric"):
        p, s = source.precision or 18, source.scale or 0
        return [col(q, f"decimal({p},{s})", f"decimal({p},{s})", f"DECIMAL({p},{s})")]
    if t == "money":
        return [col(q, "decimal(19,4)", "decimal(19,4)", "DECIMAL(19,4)")]
    if t == "smallmoney":
        return [col(q, "decimal(10,4)", "decimal(10,4)", "DECIMAL(10,4)")]
    if t == "float":
        if source.precision is not None and source.precision <= 24:
            return [col(q, "float", "float", "FLOAT")]
        return [col(q, "double", "double", "DOUBLE")]
    if t == "real":
        return [col(q, "float", "float", "FLOAT")]
    if t == "date":
        return [col(q, "date", "date", "DATE")]
    if t == "time":
        return [col(f"CAST({q} AS VARCHAR(16))", "string", "string",
                    "VARCHAR(16)", "exact text")]
    if t in ("datetime", "smalldatetime", "datetime2"):
        note = "7th fractional digit dropped" if t == "datetime2" and (source.scale is None or source.scale > 6) else ""
        return [col(_as_text(q), "timestamp_ntz", "timestamp", "DATETIME", note)]
    if t == "datetimeoffset":
        return [
            col(_as_text(f"CONVERT(DATETIME2(7), {q}, 1)"), "timestamp", "timestamptz", "DATETIME", "UTC instant"),
            col(f"DATEPART(TZOFFSET, {q})", "int", "int", "SMALLINT", "offset in minutes",
                name=target_name + OFFSET_SUFFIX),
        ]
    if t in _STRING_TYPES:
        return [col(q, "string", "string", f"VARCHAR({_varchar_len(source)})")]
    if t == "xml":
        return [col(f"CAST({q} AS NVARCHAR(MAX))", "string", "string", f"VARCHAR({STARROCKS_MAX_VARCHAR})")]
    if t in ("binary", "varbinary", "image"):
        length = source.max_length
        if t == "image" or length in (None, -1):
            length = STARROCKS_MAX_VARBINARY
        return [col(q, "binary", "binary", f"VARBINARY({min(length, STARROCKS_MAX_VARBINARY)})")]
    if t == "uniqueidentifier":
        return [col(f"LOWER(CONVERT(CHAR(36), {q}))", "string", "string", "VARCHAR(36)")]
    if t in ("timestamp", "rowversion"):
        return [col(f"CAST({q} AS BIGINT)", "bigint", "long", "BIGINT")]
    if t == "sql_variant":
        return [col(f"CAST({q} AS NVARCHAR(MAX))", "string", "string", f"VARCHAR({STARROCKS_MAX_VARCHAR})")]
    if t in ("geography", "geometry"):
        return [col(f"{q}.STAsText()", "string", "string", f"VARCHAR({STARROCKS_MAX_VARCHAR})", "WKT")]
    if t == "hierarchyid":
        return [col(f"{q}.ToString()", "string", "string", "VARCHAR(4000)")]
    raise UnsupportedTypeError(f"SQL Server type {source.declared} is not supported")


def render_markdown() -> str:
    lines = ["| SQL Server | Iceberg | StarRocks | Notes |", "| --- | --- | --- | --- |"]
    lines += [f"| {r.sql_server} | {r.iceberg} | {r.starrocks} | {r.note} |" for r in RULES]
    return "\n".join(lines)


def datetime_text(value) -> str:
    """A date/time as the targets' DATETIME text: UTC without offset, microseconds
    (a date is its midnight); anything else as str()."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat() + " 00:00:00.000000"
    return str(value)
