"""SQL Server databases kept in DuckDB: one DuckDB file per database, with its catalog.

Each database file holds its user tables (schema `dbo`, `sales`, ...) and a `__mssql` schema
with what SQL Server's catalog knows and DuckDB's does not: every column's declared type,
identity and rowversion columns, primary keys, table comments (MS_Description), Change
Tracking state and the database's rowversion counter (@@DBTS). The catalog views clients read
(INFORMATION_SCHEMA.*, sys.*) are rebuilt from it in `__sys` after every DDL statement.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from mssql_starrocks_devservers.mssql.types import UDT_TYPES, SqlType, parse

META = "__mssql"
SYS = "__sys"
SYSTEM_TYPE_IDS = {
    "image": 34, "text": 35, "uniqueidentifier": 36, "date": 40, "time": 41, "datetime2": 42, "datetimeoffset": 43,
    "tinyint": 48, "smallint": 52, "int": 56, "smalldatetime": 58, "real": 59, "money": 60, "datetime": 61,
    "float": 62, "sql_variant": 98, "ntext": 99, "bit": 104, "decimal": 106, "numeric": 108, "smallmoney": 122,
    "bigint": 127, "hierarchyid": 240, "geometry": 240, "geography": 240, "varbinary": 165, "varchar": 167,
    "binary": 173, "char": 175, "timestamp": 189, "nvarchar": 231, "nchar": 239, "xml": 241,
}
USER_TYPE_IDS = {**SYSTEM_TYPE_IDS, "hierarchyid": 128, "geometry": 129, "geography": 130}


class MssqlError(Exception):
    """An error SQL Server would raise: number, severity, state and its message text."""

    def __init__(self, number: int, message: str, severity: int = 16, state: int = 1):
        super().__init__(message)
        self.number = number
        self.severity = severity
        self.state = state


@dataclass
class ColumnInfo:
    name: str
    type: str  # declared, e.g. NVARCHAR(50)
    nullable: bool = True
    identity: tuple[int, int] | None = None  # (seed, increment)
    default: str | None = None  # T-SQL text of the default expression
    column_id: int = 0
    collation: str | None = None  # declared COLLATE, else the database default (SQL_Latin1_General_CP1_CI_AS)

    @property
    def sql_type(self) -> SqlType:
        return parse(self.type)


@dataclass
class TableInfo:
    object_id: int
    schema: str
    name: str
    columns: list[ColumnInfo]
    primary_key: list[str] = field(default_factory=list)
    pk_name: str | None = None
    ct_enabled: bool = False
    description: str | None = None

    def column(self, name: str) -> ColumnInfo | None:
        for c in self.columns:
            if c.name.lower() == name.lower():
                return c
        return None

    @property
    def rowversion(self) -> ColumnInfo | None:
        return next((c for c in self.columns if c.sql_type.name == "timestamp"), None)

    @property
    def identity(self) -> ColumnInfo | None:
        return next((c for c in self.columns if c.identity), None)

    def to_json(self) -> str:
        data = {**self.__dict__, "columns": [c.__dict__ for c in self.columns]}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "TableInfo":
        data = json.loads(text)
        data["columns"] = [ColumnInfo(**{**c, "identity": tuple(c["identity"]) if c["identity"] else None})
                           for c in data["columns"]]
        return cls(**data)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Server:
    """All databases of the stand-in, in one DuckDB instance (each database an attached file)."""

    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.duck = duckdb.connect(":memory:")
        self.lock = threading.RLock()  # writes (DDL and DML) run one at a time
        self.faults = Faults()
        self.session_ids = itertools.count(51)
        self.active_rowversions: dict[int, tuple[str, int]] = {}  # session id -> (db, lowest rowversion it wrote)
        self.db_ids: dict[str, int] = {}
        for path in sorted(data_dir.glob("*.mssql.duckdb")):
            self._attach(path.name.removesuffix(".mssql.duckdb"))
        if "master" not in self.db_ids:
            self.create_database("master")

    # --- databases ----------------------------------------------------------------------
    def _attach(self, name: str) -> None:
        path = self.data_dir / f"{name}.mssql.duckdb"
        self.duck.execute(f"ATTACH {_lit(str(path))} AS {q(name)}")
        self.db_ids[name] = 1 if name == "master" else 5 + len([d for d in self.db_ids if d != "master"])
        self._init_meta(name)

    def _init_meta(self, db: str) -> None:
        d = q(db)
        self.duck.execute(f"CREATE SCHEMA IF NOT EXISTS {d}.{META}")
        self.duck.execute(f"CREATE SCHEMA IF NOT EXISTS {d}.{SYS}")
        self.duck.execute(f"CREATE SCHEMA IF NOT EXISTS {d}.dbo")
        self.duck.execute(f"CREATE TABLE IF NOT EXISTS {d}.{META}.tables (object_id INTEGER PRIMARY KEY, "
                          "schema_name VARCHAR, name VARCHAR, def VARCHAR, created TIMESTAMP DEFAULT now(), "
                          "modified TIMESTAMP DEFAULT now())")
        self.duck.execute(f"CREATE TABLE IF NOT EXISTS {d}.{META}.schemas (schema_id INTEGER PRIMARY KEY, "
                          "name VARCHAR)")
        self.duck.execute(f"CREATE TABLE IF NOT EXISTS {d}.{META}.settings (k VARCHAR PRIMARY KEY, v VARCHAR)")
        self.duck.execute(f"CREATE SEQUENCE IF NOT EXISTS {d}.{META}.dbts START 2001")
        self.duck.execute(f"CREATE SEQUENCE IF NOT EXISTS {d}.{META}.object_ids START 901578250 INCREMENT 16")
        for sid, name in ((1, "dbo"), (2, "guest"), (3, "INFORMATION_SCHEMA"), (4, "sys")):
            self.duck.execute(f"INSERT OR IGNORE INTO {d}.{META}.schemas VALUES (?, ?)", [sid, name])
        self.refresh(db)

    def databases(self) -> list[str]:
        return sorted(self.db_ids)

    def has_database(self, name: str) -> bool:
        return self.resolve_database(name) is not None

    def resolve_database(self, name: str) -> str | None:
        for db in self.db_ids:
            if db.lower() == name.lower():
                return db
        return None

    def create_database(self, name: str) -> None:
        with self.lock:
            if self.resolve_database(name):
                raise MssqlError(1801, f"Database '{name}' already exists. Choose a different database name.")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_@$#]*", name):
                raise MssqlError(102, f"Incorrect syntax near '{name}'.", 15)
            self._attach(name)

    def drop_database(self, name: str) -> None:
        with self.lock:
            db = self.resolve_database(name)
            if db is None:
                raise MssqlError(3701, f"Cannot drop the database '{name}', because it does not exist or you do "
                                       "not have permission.", 11)
            if db == "master":
                raise MssqlError(3708, "Cannot drop the database 'master' because it is a system database.")
            self.duck.execute(f"DETACH {q(db)}")
            (self.data_dir / f"{db}.mssql.duckdb").unlink(missing_ok=True)
            (self.data_dir / f"{db}.mssql.duckdb.wal").unlink(missing_ok=True)
            del self.db_ids[db]

    # --- settings -----------------------------------------------------------------------
    def setting(self, db: str, key: str, default: str | None = None) -> str | None:
        rows = self.duck.cursor().execute(f"SELECT v FROM {q(db)}.{META}.settings WHERE k = ?", [key]).fetchall()
        return rows[0][0] if rows else default

    def set_setting(self, db: str, key: str, value: str, cursor=None) -> None:
        (cursor or self.duck).execute(f"INSERT OR REPLACE INTO {q(db)}.{META}.settings VALUES (?, ?)", [key, value])

    # --- schemas and tables ---------------------------------------------------------------
    def schemas(self, db: str) -> list[tuple[int, str]]:
        return [tuple(r) for r in self.duck.cursor().execute(
            f"SELECT schema_id, name FROM {q(db)}.{META}.schemas ORDER BY schema_id").fetchall()]

    def resolve_schema(self, db: str, name: str) -> str | None:
        for _, s in self.schemas(db):
            if s.lower() == name.lower():
                return s
        return None

    def create_schema(self, db: str, name: str) -> None:
        with self.lock:
            if self.resolve_schema(db, name):
                raise MssqlError(2714, f"There is already an object named '{name}' in the database.")
            next_id = max(s for s, _ in self.schemas(db)) + 1
            self.duck.execute(f"CREATE SCHEMA IF NOT EXISTS {q(db)}.{q(name)}")
            self.duck.execute(f"INSERT INTO {q(db)}.{META}.schemas VALUES (?, ?)", [max(next_id, 5), name])
            self.refresh(db)

    def tables(self, db: str) -> list[TableInfo]:
        rows = self.duck.cursor().execute(f"SELECT def FROM {q(db)}.{META}.tables ORDER BY object_id").fetchall()
        return [TableInfo.from_json(r[0]) for r in rows]

    def table(self, db: str, schema: str, name: str) -> TableInfo | None:
        for t in self.tables(db):
            if t.schema.lower() == schema.lower() and t.name.lower() == name.lower():
                return t
        return None

    def table_by_id(self, db: str, object_id: int) -> TableInfo | None:
        return next((t for t in self.tables(db) if t.object_id == object_id), None)

    def save_table(self, db: str, t: TableInfo, cursor=None) -> None:
        (cursor or self.duck).execute(f"UPDATE {q(db)}.{META}.tables SET def = ?, schema_name = ?, name = ? "
                                      "WHERE object_id = ?", [t.to_json(), t.schema, t.name, t.object_id])

    def touch(self, db: str, object_id: int, cursor=None) -> None:
        (cursor or self.duck).execute(f"UPDATE {q(db)}.{META}.tables SET modified = now() WHERE object_id = ?",
                                      [object_id])

    def new_object_id(self, db: str) -> int:
        return int(self.duck.execute(f"SELECT nextval('{db}.{META}.object_ids')").fetchone()[0])

    # --- catalog views ------------------------------------------------------------------
    def refresh(self, db: str) -> None:
        """Rebuild INFORMATION_SCHEMA and sys views of `db` from the catalog."""
        with self.lock:
            d, s = q(db), f"{q(db)}.{SYS}"
            tables = self.tables(db)
            schemas = self.schemas(db)
            schema_ids = {name.lower(): sid for sid, name in schemas}
            x = self.duck
            x.execute(f"CREATE OR REPLACE TABLE {s}.schemas AS SELECT * FROM (VALUES "
                      + ", ".join(f"({sid}, {_lit(n)}, 1)" for sid, n in schemas)
                      + ") v(schema_id, name, principal_id)")
            x.execute(f"CREATE OR REPLACE TABLE {s}.information_schema_schemata AS SELECT * FROM (VALUES "
                      + ", ".join(f"({_lit(db)}, {_lit(n)}, 'dbo', NULL, NULL, 'iso_1')" for _, n in schemas)
                      + ") v(CATALOG_NAME, SCHEMA_NAME, SCHEMA_OWNER, DEFAULT_CHARACTER_SET_CATALOG, "
                        "DEFAULT_CHARACTER_SET_SCHEMA, DEFAULT_CHARACTER_SET_NAME)")
            trows, crows, syscols, kc, tc, props, idx, idxcols, keycons, ctt = [], [], [], [], [], [], [], [], [], []
            for t in tables:
                sid = schema_ids.get(t.schema.lower(), 1)
                trows.append(f"({_lit(db)}, {_lit(t.schema)}, {_lit(t.name)}, 'BASE TABLE', {t.object_id}, {sid})")
                if t.description is not None:
                    props.append(f"(1, {t.object_id}, 0, 'MS_Description', {_lit(t.description)})")
                if t.ct_enabled:
                    ctt.append(f"({t.object_id}, 0, 0, 0)")
                for c in t.columns:
                    st = c.sql_type
                    char_len = (-1 if st.length == -1 else st.length) if st.name in (
                        "char", "varchar", "nchar", "nvarchar", "binary", "varbinary") else (
                        -1 if st.name in ("xml",) or st.name in UDT_TYPES else
                        2147483647 if st.name in ("text", "image") else 1073741823 if st.name == "ntext" else None)
                    num_prec = (st.precision if st.name in ("decimal", "numeric") else
                                {"tinyint": 3, "smallint": 5, "int": 10, "bigint": 19, "money": 19,
                                 "smallmoney": 10, "float": 53, "real": 24}.get(st.name))
                    num_scale = st.scale if st.name in ("decimal", "numeric") else (
                        4 if st.name in ("money", "smallmoney") else 0 if st.name in (
                            "tinyint", "smallint", "int", "bigint") else None)
                    dt_prec = st.scale if st.name in ("time", "datetime2", "datetimeoffset") else (
                        3 if st.name == "datetime" else 0 if st.name in ("date", "smalldatetime") else None)
                    data_type = st.name if st.name != "real" else "real"
                    crows.append(
                        f"({_lit(db)}, {_lit(t.schema)}, {_lit(t.name)}, {_lit(c.name)}, {c.column_id}, "
                        f"{_lit(c.default)}, {_lit('YES' if c.nullable else 'NO')}, {_lit(data_type)}, "
                        f"{_num(char_len)}, {_num(num_prec)}, {_num(num_scale)}, {_num(dt_prec)})")
                    syscols.append(
                        f"({t.object_id}, {_lit(c.name)}, {c.column_id}, {SYSTEM_TYPE_IDS[st.name]}, "
                        f"{USER_TYPE_IDS[st.name]}, {st.max_length_bytes}, {_num(num_prec or 0)}, "
                        f"{_num(num_scale or dt_prec or 0)}, {str(c.nullable).lower()}, {str(bool(c.identity)).lower()}, "
                        f"{str(st.name == 'timestamp').lower()})")
                if t.primary_key:
                    pk = t.pk_name or f"PK__{t.name}"
                    tc.append(f"({_lit(db)}, {_lit(t.schema)}, {_lit(pk)}, {_lit(db)}, {_lit(t.schema)}, "
                              f"{_lit(t.name)}, 'PRIMARY KEY')")
                    idx.append(f"({t.object_id}, 1, {_lit(pk)}, 1, 'CLUSTERED', true, true)")
                    keycons.append(f"({t.object_id + 1}, {_lit(pk)}, {t.object_id}, 'PK', 1)")
                    for i, k in enumerate(t.primary_key, start=1):
                        col = t.column(k)
                        kc.append(f"({_lit(db)}, {_lit(t.schema)}, {_lit(pk)}, {_lit(db)}, {_lit(t.schema)}, "
                                  f"{_lit(t.name)}, {_lit(col.name)}, {i})")
                        idxcols.append(f"({t.object_id}, 1, {i}, {col.column_id}, {i}, false)")
                else:
                    idx.append(f"({t.object_id}, 0, NULL, 0, 'HEAP', false, false)")
            x.execute(f"CREATE OR REPLACE TABLE {s}.tables AS SELECT name, object_id, schema_id, 'U' AS type, "
                      "'USER_TABLE' AS type_desc, now() AS create_date, now() AS modify_date, false AS is_ms_shipped, "
                      "0 AS principal_id, 0 AS parent_object_id FROM (VALUES "
                      + (", ".join(f"({_lit(t.name)}, {t.object_id}, {schema_ids.get(t.schema.lower(), 1)})"
                                   for t in tables) or "(NULL, NULL, NULL)")
                      + ") v(name, object_id, schema_id) WHERE name IS NOT NULL")
            x.execute(f"CREATE OR REPLACE VIEW {s}.objects AS SELECT name, object_id, schema_id, type, type_desc, "
                      f"principal_id, parent_object_id, create_date, modify_date, is_ms_shipped FROM {s}.tables")
            _table(x, f"{s}.information_schema_tables",
                   "TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, object_id, schema_id", trows,
                   "VARCHAR, VARCHAR, VARCHAR, VARCHAR, INTEGER, INTEGER")
            _table(x, f"{s}.information_schema_columns",
                   "TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, "
                   "IS_NULLABLE, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, "
                   "DATETIME_PRECISION", crows,
                   "VARCHAR, VARCHAR, VARCHAR, VARCHAR, INTEGER, VARCHAR, VARCHAR, VARCHAR, INTEGER, UTINYINT, "
                   "INTEGER, SMALLINT")
            _table(x, f"{s}.information_schema_table_constraints",
                   "CONSTRAINT_CATALOG, CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, "
                   "CONSTRAINT_TYPE", tc, ", ".join(["VARCHAR"] * 7))
            _table(x, f"{s}.information_schema_key_column_usage",
                   "CONSTRAINT_CATALOG, CONSTRAINT_SCHEMA, CONSTRAINT_NAME, TABLE_CATALOG, TABLE_SCHEMA, TABLE_NAME, "
                   "COLUMN_NAME, ORDINAL_POSITION", kc, ", ".join(["VARCHAR"] * 7) + ", INTEGER")
            _table(x, f"{s}.columns", "object_id, name, column_id, system_type_id, user_type_id, max_length, "
                   "precision, scale, is_nullable, is_identity, is_rowguidcol", syscols,
                   "INTEGER, VARCHAR, INTEGER, UTINYINT, INTEGER, SMALLINT, UTINYINT, UTINYINT, BOOLEAN, BOOLEAN, "
                   "BOOLEAN")
            _table(x, f"{s}.extended_properties", "class, major_id, minor_id, name, value", props,
                   "UTINYINT, INTEGER, INTEGER, VARCHAR, VARCHAR")
            _table(x, f"{s}.indexes", "object_id, index_id, name, type, type_desc, is_primary_key, is_unique", idx,
                   "INTEGER, INTEGER, VARCHAR, UTINYINT, VARCHAR, BOOLEAN, BOOLEAN")
            _table(x, f"{s}.index_columns", "object_id, index_id, index_column_id, column_id, key_ordinal, "
                   "is_descending_key", idxcols, "INTEGER, INTEGER, INTEGER, INTEGER, UTINYINT, BOOLEAN")
            _table(x, f"{s}.key_constraints", "object_id, name, parent_object_id, type, unique_index_id", keycons,
                   "INTEGER, VARCHAR, INTEGER, VARCHAR, INTEGER")
            _table(x, f"{s}.change_tracking_tables", "object_id, is_track_columns_updated_on, "
                   "begin_version, cleanup_version", ctt, "INTEGER, BOOLEAN, BIGINT, BIGINT")
            _table(x, f"{s}.stats", "object_id, stats_id, name", [], "INTEGER, INTEGER, VARCHAR")
            _table(x, f"{s}.stats_columns", "object_id, stats_id, stats_column_id, column_id", [],
                   "INTEGER, INTEGER, INTEGER, INTEGER")
            x.execute(f"CREATE OR REPLACE TABLE {s}.types AS SELECT * FROM (VALUES "
                      + ", ".join(f"({_lit(n)}, {sid}, {USER_TYPE_IDS[n]}, 4, {str(n in UDT_TYPES).lower()})"
                                  for n, sid in SYSTEM_TYPE_IDS.items())
                      + ") v(name, system_type_id, user_type_id, schema_id, is_user_defined)")
            counts = [f"SELECT {t.object_id} AS object_id, {1 if t.primary_key else 0} AS index_id, 1 AS "
                      f"partition_number, (SELECT COUNT(*) FROM {d}.{q(t.schema)}.{q(t.name)}) AS rows"
                      for t in tables]
            x.execute(f"CREATE OR REPLACE VIEW {s}.partitions AS " + (" UNION ALL ".join(counts) if counts else
                      "SELECT NULL::INTEGER AS object_id, NULL::INTEGER AS index_id, NULL::INTEGER AS "
                      "partition_number, NULL::BIGINT AS rows WHERE false"))
            x.execute(f"CREATE OR REPLACE VIEW {s}.dm_db_index_usage_stats AS SELECT {self.db_ids.get(db, 1)} AS "
                      f"database_id, object_id, 1 AS index_id, modified AS last_user_update FROM {d}.{META}.tables")
            x.execute(f"CREATE OR REPLACE TABLE {s}.databases AS SELECT * FROM (VALUES "
                      + ", ".join(f"({_lit(n)}, {i}, 'ONLINE')" for n, i in sorted(self.db_ids.items()))
                      + ") v(name, database_id, state_desc)")


def _lit(value) -> str:
    if value is None:
        return "NULL"
    return "'" + str(value).replace("'", "''") + "'"


def _num(value) -> str:
    return "NULL" if value is None else str(int(value))


def _table(x, name: str, columns: str, rows: list[str], types: str) -> None:
    cols = [c.strip() for c in columns.split(",")]
    tys = [t.strip() for t in types.split(",")]
    x.execute(f"CREATE OR REPLACE TABLE {name} ({', '.join(f'{c} {t}' for c, t in zip(cols, tys))})")
    for start in range(0, len(rows), 500):
        x.execute(f"INSERT INTO {name} VALUES " + ", ".join(rows[start:start + 500]))


class ConnectionDropped(Exception):
    """Raised inside a result stream: the TDS layer closes the socket without another byte."""


@dataclass
class Fault:
    """One injected fault on SELECTs that read a table (stand-in only; SQL Server has no such thing).

    kinds: `slow` sleeps `delay_ms` before each batch of rows; `drop` closes the connection
    after `after_rows` rows; `error` fails the SELECT with error 1205 (deadlock victim, a
    transient error clients retry). `times` is how many SELECTs it affects (0 = until cleared).
    """

    kind: str
    after_rows: int = 0
    delay_ms: int = 100
    times: int = 1

    consume: object = None  # called when the fault fires (counts towards `times`)

    def apply(self, batches):
        import time as _time

        if self.kind == "error":
            self.consume()
            raise MssqlError(1205, "Transaction (Process ID 61) was deadlocked on lock resources with another "
                                   "process and has been chosen as the deadlock victim. Rerun the transaction.", 13)
        sent = 0
        for batch in batches:
            if self.kind == "slow":
                if sent == 0:
                    self.consume()
                _time.sleep(self.delay_ms / 1000)
            if self.kind == "drop" and sent + len(batch) > self.after_rows:
                if self.after_rows > sent:
                    yield batch[: self.after_rows - sent]
                self.consume()
                raise ConnectionDropped()
            sent += len(batch)
            yield batch


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self._by_table: dict[str, Fault] = {}

    def set(self, session, table: str, kind: str, **options) -> None:
        parts = [p.strip("[]") for p in table.split(".")]
        if kind not in ("slow", "drop", "error", "clear"):
            raise MssqlError(50000, f"sp_devservers_fault: unknown kind '{kind}' (slow, drop, error, clear)")
        db, t = session._user_table(parts, table)
        key = f"{db}.{t.schema}.{t.name}".lower()
        with self._lock:
            if kind == "clear":
                self._by_table.pop(key, None)
            else:
                self._by_table[key] = Fault(kind, **options)

    def take(self, touched: set[str]) -> Fault | None:
        with self._lock:
            for key in touched:
                fault = self._by_table.get(key)
                if fault is not None:
                    return Fault(fault.kind, fault.after_rows, fault.delay_ms, 0,
                                 consume=lambda key=key, fault=fault: self._consume(key, fault))
        return None

    def _consume(self, key: str, fault: Fault) -> None:
        with self._lock:
            if fault.times > 0:
                fault.times -= 1
                if fault.times == 0 and self._by_table.get(key) is fault:
                    del self._by_table[key]
