"""The StarRocks stand-in's storage: StarRocks databases and tables kept in one DuckDB file.

A StarRocks database is a DuckDB schema; each table keeps its StarRocks definition (column
types, key model and key columns, distribution, properties, comment) in `__sr_meta.tables`, so
SHOW CREATE TABLE, information_schema and the type checks of loads follow the StarRocks
definition, not DuckDB's. PRIMARY KEY / UNIQUE KEY tables have a DuckDB primary key, so
loads upsert by key. Writes are serialised (one transaction each: a Stream Load is all or
nothing); reads run concurrently on their own cursors.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from mssql_starrocks_devservers.starrocks.types import SrType, parse_type

META = "__sr_meta"
INFO = "__sr_info"
SYSTEM_DBS = ("information_schema", "_statistics_", "sys")


class SrError(Exception):
    """An error StarRocks would return; `code` is the MySQL error code it uses."""

    def __init__(self, message: str, code: int = 1064):
        super().__init__(message)
        self.code = code


@dataclass
class Column:
    name: str
    type: str
    nullable: bool = True
    comment: str = ""
    default: str | None = None

    @property
    def sr_type(self) -> SrType:
        return parse_type(self.type)


@dataclass
class TableDef:
    database: str
    name: str
    columns: list[Column]
    keys_type: str = "DUPLICATE"  # DUPLICATE | PRIMARY | UNIQUE | AGGREGATE
    key_columns: list[str] = field(default_factory=list)
    distribution: str = "RANDOM"  # HASH | RANDOM
    distribution_columns: list[str] = field(default_factory=list)
    buckets: int | None = None
    properties: dict[str, str] = field(default_factory=dict)
    comment: str = ""
    order_by: list[str] = field(default_factory=list)

    def column(self, name: str) -> Column | None:
        for c in self.columns:
            if c.name.lower() == name.lower():
                return c
        return None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TableDef":
        data = json.loads(text)
        data["columns"] = [Column(**c) for c in data["columns"]]
        return cls(**data)

    def show_create(self) -> str:
        lines = []
        for c in self.columns:
            parts = [f"  `{c.name}` {c.sr_type.column_type}", "NULL" if c.nullable else "NOT NULL"]
            if c.default is not None:
                parts.append(f"DEFAULT {c.default}")
            parts.append(f'COMMENT "{c.comment}"')
            lines.append(" ".join(parts))
        out = [f"CREATE TABLE `{self.name}` (", ",\n".join(lines), ") ENGINE=OLAP "]
        if self.key_columns:
            out.append(f"{self.keys_type} KEY(" + ", ".join(f"`{k}`" for k in self.key_columns) + ")")
        out.append(f'COMMENT "{self.comment or "OLAP"}"')
        if self.distribution == "HASH":
            out.append("DISTRIBUTED BY HASH(" + ", ".join(f"`{k}`" for k in self.distribution_columns) + ")"
                       + (f" BUCKETS {self.buckets}" if self.buckets else ""))
        else:
            out.append("DISTRIBUTED BY RANDOM" + (f" BUCKETS {self.buckets}" if self.buckets else ""))
        if self.order_by:
            out.append("ORDER BY(" + ", ".join(f"`{k}`" for k in self.order_by) + ")")
        props = {"replication_num": "1", **self.properties}
        out.append("PROPERTIES (\n" + ",\n".join(f'"{k}" = "{v}"' for k, v in props.items()) + "\n);")
        return "\n".join(out)


def qi(name: str) -> str:
    """A DuckDB-quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


class Engine:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = duckdb.connect(str(path))
        self.write_lock = threading.RLock()
        self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {META}")
        self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {INFO}")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {META}.databases (name VARCHAR PRIMARY KEY)")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {META}.tables (db VARCHAR, name VARCHAR, def VARCHAR, "
                        "PRIMARY KEY (db, name))")
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {META}.labels (db VARCHAR, label VARCHAR, state VARCHAR, "
                        "txn_id BIGINT, loaded BIGINT, created_at TIMESTAMP DEFAULT now(), PRIMARY KEY (db, label))")
        self.db.execute(f"CREATE SEQUENCE IF NOT EXISTS {META}.txn_ids START 1000")
        self.refresh_info()

    def cursor(self):
        return self.db.cursor()

    # --- catalog --------------------------------------------------------------------------
    def databases(self) -> list[str]:
        return [r[0] for r in self.cursor().execute(f"SELECT name FROM {META}.databases ORDER BY name").fetchall()]

    def has_database(self, name: str) -> bool:
        return name in self.databases()

    def require_database(self, name: str | None) -> str:
        if not name:
            raise SrError("No database selected", 1046)
        if not self.has_database(name):
            raise SrError(f"Unknown database '{name}'", 1049)
        return name

    def tables(self, db: str) -> list[TableDef]:
        rows = self.cursor().execute(f"SELECT def FROM {META}.tables WHERE db = ? ORDER BY name", [db]).fetchall()
        return [TableDef.from_json(r[0]) for r in rows]

    def table(self, db: str, name: str) -> TableDef | None:
        rows = self.cursor().execute(f"SELECT def FROM {META}.tables WHERE db = ? AND name = ?", [db, name]).fetchall()
        return TableDef.from_json(rows[0][0]) if rows else None

    def require_table(self, db: str, name: str) -> TableDef:
        self.require_database(db)
        t = self.table(db, name)
        if t is None:
            # Error codes: 1051, an invalid table is specified.
            raise SrError(f"Getting analyzing error. Detail message: Unknown table '{db}.{name}'.", 1051)
        return t

    def create_database(self, name: str, if_not_exists: bool) -> None:
        with self.write_lock:
            if self.has_database(name):
                if if_not_exists:
                    return
                raise SrError(f"Can't create database '{name}'; database exists", 1007)
            if name.lower() in SYSTEM_DBS or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", name):
                raise SrError(f"Incorrect database name '{name}'", 1102)
            self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {qi(name)}")
            self.db.execute(f"INSERT INTO {META}.databases VALUES (?)", [name])
            self.refresh_info()

    def drop_database(self, name: str, if_exists: bool) -> None:
        with self.write_lock:
            if not self.has_database(name):
                if if_exists:
                    return
                raise SrError(f"Can't drop database '{name}'; database doesn't exist", 1008)
            self.db.execute(f"DROP SCHEMA {qi(name)} CASCADE")
            self.db.execute(f"DELETE FROM {META}.databases WHERE name = ?", [name])
            self.db.execute(f"DELETE FROM {META}.tables WHERE db = ?", [name])
            self.refresh_info()

    def create_table(self, t: TableDef, if_not_exists: bool) -> None:
        self.require_database(t.database)
        validate_table(t)
        with self.write_lock:
            if self.table(t.database, t.name) is not None:
                if if_not_exists:
                    return
                raise SrError(f"Table '{t.name}' already exists", 1050)
            cols = ", ".join(f"{qi(c.name)} {c.sr_type.duckdb}" + ("" if c.nullable else " NOT NULL")
                             for c in t.columns)
            if t.keys_type in ("PRIMARY", "UNIQUE"):
                cols += ", PRIMARY KEY (" + ", ".join(qi(k) for k in t.key_columns) + ")"
            self.db.execute("BEGIN")
            try:
                self.db.execute(f"CREATE TABLE {qi(t.database)}.{qi(t.name)} ({cols})")
                self.db.execute(f"INSERT INTO {META}.tables VALUES (?, ?, ?)", [t.database, t.name, t.to_json()])
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise
            self.refresh_info()

    def save_def(self, t: TableDef) -> None:
        self.db.execute(f"UPDATE {META}.tables SET def = ? WHERE db = ? AND name = ?", [t.to_json(), t.database, t.name])

    def drop_table(self, db: str, name: str, if_exists: bool) -> None:
        with self.write_lock:
            self.require_database(db)
            if self.table(db, name) is None:
                if if_exists:
                    return
                raise SrError(f"Unknown table '{name}'", 1051)
            self.db.execute(f"DROP TABLE {qi(db)}.{qi(name)}")
            self.db.execute(f"DELETE FROM {META}.tables WHERE db = ? AND name = ?", [db, name])
            self.refresh_info()

    def rename_table(self, db: str, old: str, new: str) -> None:
        with self.write_lock:
            t = self.require_table(db, old)
            if self.table(db, new) is not None:
                raise SrError(f"Table '{new}' already exists", 1050)
            self.db.execute("BEGIN")
            try:
                self.db.execute(f"ALTER TABLE {qi(db)}.{qi(old)} RENAME TO {qi(new)}")
                t.name = new
                self.db.execute(f"UPDATE {META}.tables SET name = ?, def = ? WHERE db = ? AND name = ?",
                                [new, t.to_json(), db, old])
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise
            self.refresh_info()

    def swap(self, db: str, a: str, b: str) -> None:
        """ALTER TABLE a SWAP WITH b: both names keep existing, their contents and schemas exchange."""
        with self.write_lock:
            ta, tb = self.require_table(db, a), self.require_table(db, b)
            tmp = f"__swap_{a}"
            self.db.execute("BEGIN")
            try:
                self.db.execute(f"ALTER TABLE {qi(db)}.{qi(a)} RENAME TO {qi(tmp)}")
                self.db.execute(f"ALTER TABLE {qi(db)}.{qi(b)} RENAME TO {qi(a)}")
                self.db.execute(f"ALTER TABLE {qi(db)}.{qi(tmp)} RENAME TO {qi(b)}")
                ta.name, tb.name = b, a
                self.db.execute(f"UPDATE {META}.tables SET def = ? WHERE db = ? AND name = ?", [tb.to_json(), db, a])
                self.db.execute(f"UPDATE {META}.tables SET def = ? WHERE db = ? AND name = ?", [ta.to_json(), db, b])
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise
            self.refresh_info()

    def add_column(self, db: str, name: str, col: Column, after: str | None) -> None:
        with self.write_lock:
            t = self.require_table(db, name)
            if t.column(col.name) is not None:
                raise SrError(f"Duplicate column name '{col.name}'", 1060)
            parse_type(col.type)
            if not col.nullable and col.default is None:
                raise SrError(f"Can not add column which is NOT NULL and has no default value: {col.name}", 5502)
            self.db.execute("BEGIN")
            try:
                self.db.execute(f"ALTER TABLE {qi(db)}.{qi(name)} ADD COLUMN {qi(col.name)} {col.sr_type.duckdb}")
                if col.default is not None:
                    self.db.execute(f"UPDATE {qi(db)}.{qi(name)} SET {qi(col.name)} = ?", [col.default.strip("'\"")])
                if after:
                    idx = [c.name.lower() for c in t.columns].index(after.lower()) + 1
                    t.columns.insert(idx, col)
                else:
                    t.columns.append(col)
                self.save_def(t)
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise
            self.refresh_info()

    def drop_column(self, db: str, name: str, column: str) -> None:
        with self.write_lock:
            t = self.require_table(db, name)
            col = t.column(column)
            if col is None:
                raise SrError(f"Column does not exists: {column}", 5502)
            if col.name in t.key_columns:
                raise SrError(f"Can not drop key column in {t.keys_type.lower()} table: {column}", 5502)
            self.db.execute("BEGIN")
            try:
                self.db.execute(f"ALTER TABLE {qi(db)}.{qi(name)} DROP COLUMN {qi(col.name)}")
                t.columns = [c for c in t.columns if c.name != col.name]
                self.save_def(t)
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise
            self.refresh_info()

    def modify_column(self, db: str, name: str, col: Column) -> None:
        """MODIFY COLUMN: only widening changes StarRocks allows without data loss are accepted."""
        with self.write_lock:
            t = self.require_table(db, name)
            old = t.column(col.name)
            if old is None:
                raise SrError(f"Column does not exists: {col.name}", 5502)
            if t.keys_type == "PRIMARY" and old.name in t.key_columns:
                # Primary Key table page: the primary key cannot be modified after table creation.
                raise SrError(f"Getting analyzing error. Detail message: Can not modify primary key column "
                              f"[{old.name}] of a primary key table.", 1064)
            a, b = old.sr_type, col.sr_type
            if not _widening(a, b):
                raise SrError(f"Can not change {a.column_type} to {b.column_type}", 5502)
            self.db.execute("BEGIN")
            try:
                if a.duckdb != b.duckdb:
                    self.db.execute(f"ALTER TABLE {qi(db)}.{qi(name)} ALTER COLUMN {qi(old.name)} TYPE {b.duckdb}")
                old.type = str(b)
                old.nullable = col.nullable if old.name not in t.key_columns else old.nullable
                self.save_def(t)
                self.db.execute("COMMIT")
            except Exception:
                self.db.execute("ROLLBACK")
                raise
            self.refresh_info()

    # --- labels -------------------------------------------------------------------------
    def label_state(self, db: str, label: str) -> str | None:
        rows = self.cursor().execute(f"SELECT state FROM {META}.labels WHERE db = ? AND label = ?",
                                     [db, label]).fetchall()
        return rows[0][0] if rows else None

    def next_txn_id(self) -> int:
        return int(self.cursor().execute(f"SELECT nextval('{META}.txn_ids')").fetchone()[0])

    # --- information_schema -------------------------------------------------------------
    def refresh_info(self) -> None:
        """Rebuild the tables information_schema queries read (after every DDL), in one
        transaction: readers on other connections (other sessions) see the old tables or the new
        ones, never the moment between (StarRocks lists a table no DDL touches at every moment;
        a check asking while another table's staging table was swapped in found none)."""
        with self.write_lock:
            cur = self.db
            cur.execute("BEGIN")
            try:
                self._rebuild_info(cur)
                cur.execute("COMMIT")
            except Exception:
                cur.execute("ROLLBACK")
                raise

    @staticmethod
    def _rebuild_info(cur) -> None:
        cur.execute(f"CREATE OR REPLACE TABLE {INFO}.schemata (CATALOG_NAME VARCHAR, SCHEMA_NAME VARCHAR, "
                    "DEFAULT_CHARACTER_SET_NAME VARCHAR, DEFAULT_COLLATION_NAME VARCHAR, SQL_PATH VARCHAR)")
        cur.execute(f"CREATE OR REPLACE TABLE {INFO}.tables (TABLE_CATALOG VARCHAR, TABLE_SCHEMA VARCHAR, "
                    "TABLE_NAME VARCHAR, TABLE_TYPE VARCHAR, ENGINE VARCHAR, VERSION BIGINT, ROW_FORMAT VARCHAR, "
                    "TABLE_ROWS BIGINT, AVG_ROW_LENGTH BIGINT, DATA_LENGTH BIGINT, CREATE_TIME TIMESTAMP, "
                    "UPDATE_TIME TIMESTAMP, TABLE_COLLATION VARCHAR, TABLE_COMMENT VARCHAR)")
        cur.execute(f"CREATE OR REPLACE TABLE {INFO}.columns (TABLE_CATALOG VARCHAR, TABLE_SCHEMA VARCHAR, "
                    "TABLE_NAME VARCHAR, COLUMN_NAME VARCHAR, ORDINAL_POSITION BIGINT, COLUMN_DEFAULT VARCHAR, "
                    "IS_NULLABLE VARCHAR, DATA_TYPE VARCHAR, CHARACTER_MAXIMUM_LENGTH BIGINT, "
                    "CHARACTER_OCTET_LENGTH BIGINT, NUMERIC_PRECISION BIGINT, NUMERIC_SCALE BIGINT, "
                    "DATETIME_PRECISION BIGINT, CHARACTER_SET_NAME VARCHAR, COLLATION_NAME VARCHAR, "
                    "COLUMN_TYPE VARCHAR, COLUMN_KEY VARCHAR, EXTRA VARCHAR, PRIVILEGES VARCHAR, "
                    "COLUMN_COMMENT VARCHAR, COLUMN_SIZE BIGINT, DECIMAL_DIGITS BIGINT)")
        dbs = [r[0] for r in cur.execute(f"SELECT name FROM {META}.databases ORDER BY name").fetchall()]
        for name in ["information_schema"] + dbs:
            cur.execute(f"INSERT INTO {INFO}.schemata VALUES ('def', ?, 'utf8', 'utf8_general_ci', NULL)", [name])
        for (text,) in cur.execute(f"SELECT def FROM {META}.tables ORDER BY db, name").fetchall():
            t = TableDef.from_json(text)
            cur.execute(f"INSERT INTO {INFO}.tables VALUES ('def', ?, ?, 'BASE TABLE', 'StarRocks', NULL, NULL, "
                        "NULL, NULL, NULL, now(), NULL, 'utf8_general_ci', ?)", [t.database, t.name, t.comment])
            for i, c in enumerate(t.columns, start=1):
                st = c.sr_type
                char_len = st.length if st.name in ("VARCHAR", "CHAR", "VARBINARY") else None
                cur.execute(
                    f"INSERT INTO {INFO}.columns VALUES ('def', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, "
                    "?, ?, '', NULL, ?, NULL, NULL)",
                    [t.database, t.name, c.name, i, c.default, "YES" if c.nullable else "NO", st.data_type,
                     char_len, char_len, st.precision, st.scale,
                     "utf8_general_ci" if char_len else None, st.column_type,
                     ("PRI" if t.keys_type in ("PRIMARY", "UNIQUE") else "DUP") if c.name in t.key_columns else "",
                     c.comment])


def _widening(a: SrType, b: SrType) -> bool:
    ints = ["TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT"]
    if a == b:
        return True
    if a.name == b.name and a.name in ("VARCHAR", "VARBINARY"):
        return (b.length or 0) >= (a.length or 0)
    if a.name in ints and b.name in ints:
        return ints.index(b.name) >= ints.index(a.name)
    if a.name == "DECIMAL" and b.name == "DECIMAL":
        return b.scale == a.scale and b.precision >= a.precision
    if (a.name, b.name) in (("FLOAT", "DOUBLE"), ("CHAR", "VARCHAR")):
        return True
    return False


PK_TYPES = ("BOOLEAN", "TINYINT", "SMALLINT", "INT", "BIGINT", "LARGEINT", "DATE", "DATETIME", "VARCHAR", "CHAR")


def validate_table(t: TableDef) -> None:
    """The checks StarRocks makes at CREATE TABLE."""
    if not t.columns:
        raise SrError("Table must have at least one column", 1064)
    seen = set()
    for c in t.columns:
        if c.name.lower() in seen:
            raise SrError(f"Duplicate column name '{c.name}'", 1060)
        seen.add(c.name.lower())
        try:
            parse_type(c.type)
        except ValueError as exc:
            raise SrError(f"Getting syntax error. Detail message: {exc}", 1064) from None
    names = [c.name.lower() for c in t.columns]
    for k in t.key_columns + t.distribution_columns:
        if k.lower() not in names:
            raise SrError(f"Getting analyzing error. Detail message: Key column '{k}' does not exist in table.", 5502)
    if t.key_columns and names[: len(t.key_columns)] != [k.lower() for k in t.key_columns]:
        raise SrError("Getting analyzing error. Detail message: Key columns should be a ordered prefix of the schema.",
                      5502)
    for k in t.key_columns:
        col = t.column(k)
        st = col.sr_type
        if st.name == "VARBINARY" or st.name in ("FLOAT", "DOUBLE", "JSON"):
            raise SrError(f"Getting analyzing error. Detail message: Invalid data type of key column '{k}': {st}", 5502)
        if t.keys_type == "PRIMARY":
            if st.name not in PK_TYPES:
                raise SrError(f"Getting analyzing error. Detail message: primary key column[{k}] type not supported: "
                              f"{st.column_type}", 5502)
            col.nullable = False
    if t.keys_type == "PRIMARY" and not t.key_columns:
        raise SrError("Getting analyzing error. Detail message: primary key table must specify key columns", 5502)
