"""T-SQL in, DuckDB underneath: the SQL Server stand-in's statement engine.

Queries are parsed with sqlglot's tsql dialect and rewritten against the catalog before
DuckDB runs them: names resolve to `"db"."schema"."table"` (an unknown one is error 208),
INFORMATION_SCHEMA and sys views read the catalog, conversions SQL Server does its own way
are spelled out (CONVERT styles, uniqueidentifier and time as text, datetimeoffset, rowversion),
and the SQL Server functions the project and its drivers use are mapped. Each result column
gets its SQL Server type (declared type, CAST target, or from DuckDB's), which drives
COLMETADATA. Rows stream out in Arrow batches. Writes are serialised; INSERT and UPDATE
assign identity and rowversion values, check lengths, keys and NOT NULL as SQL Server does,
and record Change Tracking versions.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

import pyarrow as pa
import sqlglot
from sqlglot import exp

from mssql_starrocks_devservers.mssql import types as T
from mssql_starrocks_devservers.mssql.catalog import META, SYS, ColumnInfo, MssqlError, Server, TableInfo, q

VERSION_TEXT = ("Microsoft SQL Server 2022 (RTM-CU14) (KB5038325) - 16.0.4135.4 (X64) \n\tJul 10 2024 14:09:09 \n\t"
                "Copyright (C) 2022 Microsoft Corporation\n\tDeveloper Edition (64-bit) on Linux (mssql_starrocks "
                "stand-in on DuckDB)")
PRODUCT_VERSION = "16.0.4135.4"
BATCH_ROWS = 4096
SYSTEM_VIEWS = {"tables", "schemas", "columns", "types", "partitions", "indexes", "index_columns", "key_constraints",
                "extended_properties", "dm_db_index_usage_stats", "stats", "stats_columns", "objects", "databases",
                "change_tracking_tables"}
INFO_VIEWS = {"tables", "columns", "table_constraints", "key_column_usage", "schemata"}
CMD_SELECT, CMD_INSERT, CMD_DELETE, CMD_UPDATE = 0xC1, 0xC3, 0xC4, 0xC5


@dataclass
class Result:
    """One statement's outcome: a result set (columns + row batches) or a row count."""

    columns: list[tuple[str, T.SqlType]] | None = None
    batches: Iterator[list[list]] | None = None
    rowcount: int = 0
    command: int = 0
    envchange_database: str | None = None
    has_count: bool = False
    envchange_tx: list = field(default_factory=list)  # (EnvChangeType, new, old) for BEGIN/COMMIT/ROLLBACK


NOT_SUPPORTED = 50000


def unsupported(what: str) -> MssqlError:
    """What the stand-in does not implement fails loudly, never silently or with other semantics."""
    return MssqlError(NOT_SUPPORTED, f"not supported by the stand-in: {what}", 16)


# Statements SQL Server knows that the stand-in does not implement.
UNSUPPORTED_HEADS = {"MERGE", "WHILE", "PRINT", "RAISERROR", "THROW", "GRANT", "REVOKE", "DENY", "DBCC", "BACKUP",
                     "RESTORE", "BULK", "OPEN", "FETCH", "CLOSE", "DEALLOCATE", "GOTO", "RETURN", "WAITFOR",
                     "CHECKPOINT", "KILL", "RECONFIGURE", "SHUTDOWN", "READTEXT", "WRITETEXT", "UPDATETEXT",
                     "ENABLE", "DISABLE", "RENAME", "BREAK", "CONTINUE", "TRY", "CATCH", "SETUSER", "REVERT",
                     "EXECUTE AS", "SEND", "RECEIVE", "GET", "MOVE", "END"}
# SET options that only restate the defaults SQL Server drivers run with (or do not change results).
HARMLESS_SET = {
    ("ANSI_NULLS", "ON"), ("ANSI_PADDING", "ON"), ("ANSI_WARNINGS", "ON"), ("ANSI_NULL_DFLT_ON", "ON"),
    ("CONCAT_NULL_YIELDS_NULL", "ON"), ("QUOTED_IDENTIFIER", "ON"), ("ARITHABORT", "ON"), ("ARITHABORT", "OFF"),
    ("NUMERIC_ROUNDABORT", "OFF"), ("CURSOR_CLOSE_ON_COMMIT", "OFF"), ("IMPLICIT_TRANSACTIONS", "OFF"),
    ("ANSI_DEFAULTS", "ON"), ("NOEXEC", "OFF"), ("FMTONLY", "OFF"), ("STATISTICS", "*"), ("SHOWPLAN_ALL", "OFF"),
    ("DEADLOCK_PRIORITY", "*"), ("LOCK_TIMEOUT", "*"), ("TEXTSIZE", "*"), ("LANGUAGE", "*"), ("DATEFIRST", "7"),
    ("DATEFORMAT", "MDY"), ("QUERY_GOVERNOR_COST_LIMIT", "*"), ("NO_BROWSETABLE", "*"), ("ANSI_NULL_DFLT_OFF", "OFF"),
    ("ROWCOUNT", "0"), ("CONTEXT_INFO", "*"),
}
ISOLATION_LEVELS = {"READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SNAPSHOT", "SERIALIZABLE"}
LOCK_WAIT_SECONDS = 30


# --- text helpers -----------------------------------------------------------------------------
def split_statements(sql: str) -> list[str]:
    """Statements of a batch, split at `;` outside strings, brackets and comments."""
    out, buf, i, quote = [], [], 0, None
    while i < len(sql):
        ch = sql[i]
        if quote:
            buf.append(ch)
            if ch == quote:
                if i + 1 < len(sql) and sql[i + 1] == quote and quote != "]":
                    buf.append(sql[i + 1])
                    i += 2
                    continue
                quote = None
            i += 1
            continue
        if ch == "'" or ch == '"':
            quote = ch
        elif ch == "[":
            quote = "]"
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
            continue
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = len(sql) if end < 0 else end + 2
            buf.append(" ")
            continue
        elif ch == ";":
            out.append("".join(buf).strip())
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    out.append("".join(buf).strip())
    return [s for s in out if s]


def tsql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (dt.time, uuid.UUID)):
        return "'" + str(value) + "'"
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dt.datetime):
        return "'" + value.isoformat(sep=" ") + "'"
    if isinstance(value, dt.date):
        return "'" + value.isoformat() + "'"
    return "N'" + str(value).replace("'", "''") + "'"


def replace_at_names(sql: str, replace, name_pattern: str = r"@\w+") -> str:
    """`sql` with each `@name` outside strings and [brackets] replaced by `replace(name)` (kept
    when it returns None); `@@globals` are never names. Variables and RPC parameters share it."""
    out, i, quote = [], 0, None
    while i < len(sql):
        ch = sql[i]
        if quote:
            out.append(ch)
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
        elif ch == "[":
            quote = "]"
        if ch == "@":
            m = re.match(r"@@\w+", sql[i:]) or re.match(name_pattern, sql[i:])
            if m:
                name = m.group(0)
                replacement = None if name.startswith("@@") else replace(name)
                out.append(name if replacement is None else replacement)
                i += len(name)
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def bind_parameters(sql: str, params: dict[str, Any]) -> str:
    """Put RPC parameter values into the statement as literals (outside strings and brackets)."""
    if not params:
        return sql
    lowered = {k.lower(): v for k, v in params.items()}
    return replace_at_names(
        sql, lambda name: tsql_literal(lowered[name.lower()]) if name.lower() in lowered else None,
        name_pattern=r"@[A-Za-z0-9_]+")


_BRACKET = r"(?:\[(?:[^\]]|\]\])+\]|[A-Za-z_#@][\w@$#]*)"
_QNAME = rf"({_BRACKET}(?:\s*\.\s*{_BRACKET}){{0,2}})"


def unbracket(name: str) -> str:
    name = name.strip()
    if name.startswith("[") and name.endswith("]"):
        return name[1:-1].replace("]]", "]")
    if name.startswith('"') and name.endswith('"'):
        return name[1:-1]
    return name


def name_parts(text: str) -> list[str]:
    return [unbracket(p) for p in re.findall(_BRACKET, text)]


def _num_or_none(v):
    return None if v is None else int(v)


# --- the session ------------------------------------------------------------------------------
class Session:
    def __init__(self, server: Server, database: str, user: str):
        self.server = server
        self.database = database
        self.user = user
        self.cursor = server.duck.cursor()
        self._touched: set[str] = set()
        self.id = next(server.session_ids)
        self.trancount = 0
        self.tran_name: str | None = None
        self.holds_write_lock = False
        self.xact_abort = False
        self.nocount = False
        self.implicit_transactions = False
        self.isolation = "READ COMMITTED"
        self.variables: dict[str, tuple[str, Any]] = {}  # @name (lower) -> (declared type, value)
        self.temp_tables: dict[str, str] = {}  # #name (lower) -> its name in tempdb

    def close(self) -> None:
        try:
            if self.trancount:
                self._end_transaction(commit=False)
        except Exception:  # noqa: BLE001
            pass
        for stored in list(self.temp_tables.values()):
            try:
                self._drop_table(f"DROP TABLE IF EXISTS [tempdb].[dbo].[{stored}]")
            except Exception:  # noqa: BLE001
                pass
        try:
            self.cursor.close()
        except Exception:  # noqa: BLE001
            pass

    # --- transactions ---------------------------------------------------------------------------
    # A connection's transaction is a DuckDB transaction on its own cursor: its writes are seen by
    # itself only until COMMIT, other connections read the last committed rows (never blocked), and
    # a writing transaction holds the server's write lock until it ends, so other connections'
    # writes wait for it (coarser than SQL Server's row locks; they give up with 1222 after
    # LOCK_WAIT_SECONDS).
    def _descriptor(self) -> bytes:
        return self.id.to_bytes(8, "little")

    def _begin(self, name: str | None = None) -> Result:
        result = Result()
        if self.trancount == 0:
            self.cursor.execute("BEGIN TRANSACTION")
            self.tran_name = name
            result.envchange_tx.append((8, self._descriptor(), b""))
        self.trancount += 1
        return result

    def _write_lock(self) -> None:
        """Writes take the server's write lock; inside a transaction it is kept until the end."""
        if self.trancount and self.holds_write_lock:
            return
        if not self.server.lock.acquire(timeout=LOCK_WAIT_SECONDS):
            raise MssqlError(1222, "Lock request time out period exceeded.", 16, 56)
        if self.trancount:
            self.holds_write_lock = True
        else:
            self.server.lock.release()  # re-taken by the statement's own `with self.server.lock`

    def _end_transaction(self, commit: bool) -> list:
        try:
            self.cursor.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            self.trancount = 0
            self.tran_name = None
            self.server.active_rowversions.pop(self.id, None)
            if self.holds_write_lock:
                self.holds_write_lock = False
                self.server.lock.release()
        return [(9 if commit else 10, b"", self._descriptor())]

    def _doom(self) -> None:
        """A DuckDB error aborts its transaction: the whole SQL Server transaction is rolled back."""
        if self.trancount:
            try:
                self._end_transaction(commit=False)
            except Exception:  # noqa: BLE001
                pass

    def _transaction_statement(self, sql: str, first: str) -> Result:
        m = re.match(r"\s*(BEGIN|COMMIT|ROLLBACK|SAVE)(?:\s+(?:TRAN|TRANSACTION|WORK)\b)?\s*([^\s;]*)\s*$", sql, re.I)
        if not m:
            raise unsupported(f"transaction statement '{sql.strip()[:60]}'")
        name = unbracket(m.group(2)) if m.group(2) else None
        if name and name.upper().startswith("WITH"):
            raise unsupported(f"'{sql.strip()[:60]}'")
        if first == "SAVE":
            raise unsupported("SAVE TRANSACTION (savepoints)")
        if first == "BEGIN":
            return self._begin(name)
        if first == "COMMIT":
            if self.trancount == 0:
                raise MssqlError(3902, "The COMMIT TRANSACTION request has no corresponding BEGIN TRANSACTION.", 16)
            if self.trancount > 1:
                self.trancount -= 1
                return Result()
            return Result(envchange_tx=self._end_transaction(commit=True))
        if self.trancount == 0:
            raise MssqlError(3903, "The ROLLBACK TRANSACTION request has no corresponding BEGIN TRANSACTION.", 16)
        if name and (self.tran_name is None or name.lower() != self.tran_name.lower()):
            raise unsupported("ROLLBACK TRANSACTION to a savepoint")
        return Result(envchange_tx=self._end_transaction(commit=False))

    # --- entry ------------------------------------------------------------------------------
    def execute(self, sql: str, params: dict[str, Any] | None = None) -> Iterator[Result]:
        sql = bind_parameters(sql, params or {})
        self.variables = {}  # a variable lives for the batch that declares it
        for statement in split_statements(sql):
            for result in self._statement(statement):
                if self.nocount and result.columns is None:
                    result.has_count = False
                yield result

    # --- variables and SET ----------------------------------------------------------------------
    def _declare(self, sql: str) -> None:
        body = re.sub(r"^\s*DECLARE\s+", "", sql, flags=re.I)
        for item in _split_args(body):
            m = re.match(r"(@\w+)\s+(?:AS\s+)?([A-Za-z_]\w*(?:\s*\(\s*(?:MAX|\d+)\s*(?:,\s*\d+\s*)?\))?)"
                         r"\s*(?:=\s*(.*))?$", item.strip(), re.I | re.S)
            if not m:
                raise unsupported(f"DECLARE '{item.strip()[:60]}' (table variables, cursors)")
            name, type_text = m.group(1).lower(), re.sub(r"\s+", "", m.group(2))
            if type_text.upper() in ("TABLE", "CURSOR"):
                raise unsupported(f"{type_text.upper()} variables")
            try:
                T.parse(type_text)
            except T.TypeError_:
                raise MssqlError(2715, f"Column, parameter, or variable #1: Cannot find data type {type_text}.",
                                 16) from None
            if name in self.variables:
                raise MssqlError(134, f"The variable name '{m.group(1)}' has already been declared. Variable names "
                                      "must be unique within a query batch or stored procedure.", 15)
            value = self._evaluate(m.group(3), type_text) if m.group(3) else None
            self.variables[name] = (type_text, value)

    def _evaluate(self, expr: str, type_text: str):
        sql = self._substitute_variables(f"SELECT CAST(({expr}) AS {type_text})")
        tree = self.parse(sql)
        try:
            return self.cursor.execute(self.translate(tree)).fetchall()[0][0]
        except MssqlError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._doom()
            raise _map_error(exc, sql) from None

    def _substitute_variables(self, sql: str) -> str:
        if "@" not in sql or re.match(r"\s*EXEC", sql, re.I):
            return sql

        def value_of(name: str) -> str:
            if name.lower() not in self.variables:
                raise MssqlError(137, f'Must declare the scalar variable "{name}".', 15, 2)
            type_text, value = self.variables[name.lower()]
            return f"CAST({tsql_literal(value)} AS {type_text})"

        return replace_at_names(sql, value_of)

    def _set(self, sql: str) -> Result:
        m = re.match(r"\s*SET\s+(@\w+)\s*(=|\+=|-=|\*=|/=)\s*(.*)$", sql, re.I | re.S)
        if m:
            name = m.group(1).lower()
            if name not in self.variables:
                raise MssqlError(137, f'Must declare the scalar variable "{m.group(1)}".', 15, 2)
            type_text = self.variables[name][0]
            expr = m.group(3) if m.group(2) == "=" else f"{m.group(1)} {m.group(2)[0]} ({m.group(3)})"
            self.variables[name] = (type_text, self._evaluate(expr, type_text))
            return Result()
        m = re.match(r"\s*SET\s+TRANSACTION\s+ISOLATION\s+LEVEL\s+(.+?)\s*$", sql, re.I | re.S)
        if m:
            level = re.sub(r"\s+", " ", m.group(1)).upper()
            if level not in ISOLATION_LEVELS:
                raise MssqlError(102, f"Incorrect syntax near '{m.group(1).split()[0]}'.", 15)
            self.isolation = level
            return Result()
        m = re.match(r"\s*SET\s+([A-Z_]+(?:\s*,\s*[A-Z_]+)*)\s+(.+?)\s*$", sql, re.I | re.S)
        if not m:
            raise MssqlError(102, f"Incorrect syntax near '{sql.split()[1] if len(sql.split()) > 1 else 'SET'}'.", 15)
        options = [o.strip().upper() for o in m.group(1).split(",")]
        value = m.group(2).strip().upper()
        for option in options:
            if option == "NOCOUNT" and value in ("ON", "OFF"):
                self.nocount = value == "ON"
            elif option == "XACT_ABORT" and value in ("ON", "OFF"):
                self.xact_abort = value == "ON"
            elif option == "IMPLICIT_TRANSACTIONS" and value in ("ON", "OFF"):
                self.implicit_transactions = value == "ON"
            elif (option, value) in HARMLESS_SET or (option, "*") in HARMLESS_SET:
                pass
            else:
                raise unsupported(f"SET {option} {value}")
        return Result()

    def _check_snapshot(self, databases) -> None:
        if self.isolation != "SNAPSHOT":
            return
        for db in databases:
            if db.lower() != "tempdb" and self.server.setting(db, "allow_snapshot_isolation", "0") != "1":
                raise MssqlError(3952, f"Snapshot isolation transaction failed accessing database '{db}' because "
                                       "snapshot isolation is not allowed in this database. Use ALTER DATABASE to "
                                       "allow snapshot isolation.", 16)

    def _statement(self, sql: str) -> Iterator[Result]:
        head = re.match(r"\s*([A-Za-z]+)(?:\s+([A-Za-z]+))?", sql)
        if not head:
            raise MssqlError(102, f"Incorrect syntax near '{sql[:20]}'.", 15)
        first, second = head.group(1).upper(), (head.group(2) or "").upper()
        if first == "DECLARE":
            self._declare(sql)
            yield Result()
            return
        if first == "SET":
            yield self._set(sql)
            return
        if first in ("COMMIT", "ROLLBACK", "SAVE") or (first == "BEGIN" and second in ("TRAN", "TRANSACTION", "")):
            yield self._transaction_statement(sql, first)
            return
        if first == "BEGIN" and second == "DISTRIBUTED":
            raise unsupported("distributed transactions")
        if first in UNSUPPORTED_HEADS:
            raise unsupported(f"the {first} statement")
        if first in ("CREATE", "ALTER", "DROP") and second not in ("TABLE", "DATABASE", "SCHEMA"):
            raise unsupported(f"{first} {second}")
        sql = self._substitute_variables(sql)
        if self.trancount and (first in ("CREATE", "ALTER", "DROP", "TRUNCATE", "USE")):
            raise unsupported(f"{first} inside an explicit transaction (DDL is not transactional here)")
        if self.implicit_transactions and not self.trancount and first in (
                "SELECT", "INSERT", "UPDATE", "DELETE", "WITH"):
            self._begin()
        try:
            yield from self._statement_body(sql, first, second)
        except MssqlError:
            if self.xact_abort:
                self._doom()
            raise

    def _statement_body(self, sql: str, first: str, second: str) -> Iterator[Result]:
        head = re.match(r"\s*([A-Za-z]+)", sql)
        if first == "USE":
            db = self.server.resolve_database(unbracket(sql.split(None, 1)[1].strip()))
            if db is None:
                raise MssqlError(911, f"Database '{unbracket(sql.split(None, 1)[1].strip())}' does not exist. "
                                      "Make sure that the name is entered correctly.")
            self.database = db
            yield Result(envchange_database=db)
            return
        if first == "IF":
            yield from self._if(sql)
            return
        if first in ("EXEC", "EXECUTE"):
            yield from self._exec(sql)
            return
        if first == "CREATE" and second in ("DATABASE",):
            name = unbracket(sql.split(None, 2)[2].strip())
            self.server.create_database(name)
            yield Result()
            return
        if first == "DROP" and second == "DATABASE":
            self.server.drop_database(unbracket(sql.split(None, 2)[2].strip()))
            yield Result()
            return
        if first == "ALTER" and second == "DATABASE":
            yield from self._alter_database(sql)
            return
        if first == "CREATE" and second == "SCHEMA":
            self.server.create_schema(self.database, unbracket(sql.split(None, 2)[2].split()[0]))
            yield Result()
            return
        if first == "CREATE" and second == "TABLE":
            self._create_table(sql)
            yield Result()
            return
        if first == "DROP" and second == "TABLE":
            self._drop_table(sql)
            yield Result()
            return
        if first == "ALTER" and second == "TABLE":
            self._alter_table(sql)
            yield Result()
            return
        if first == "TRUNCATE":
            m = re.match(rf"\s*TRUNCATE\s+TABLE\s+{_QNAME}\s*$", sql, re.I)
            db, t = self._user_table(name_parts(m.group(1)), m.group(1))
            with self.server.lock:
                self.cursor.execute(f"DELETE FROM {self._fq(db, t)}")
                self.server.touch(db, t.object_id, self.cursor)
                if t.ct_enabled:
                    # TRUNCATE of a tracked table: its tracking information is gone and its minimum valid
                    # version moves past every version a client holds, so clients reinitialize.
                    version = int(self.server.setting(db, "ct_version", "0")) + 1
                    self.cursor.execute(f"DELETE FROM {q(db)}.{META}.{q(f'ct_{t.object_id}')}")
                    self.server.set_setting(db, "ct_version", str(version), self.cursor)
                    self.server.set_setting(db, f"ct_min_valid:{t.object_id}", str(version), self.cursor)
            yield Result()
            return
        if first in ("SELECT", "WITH"):
            yield self._select(sql)
            return
        if first == "INSERT":
            yield self._insert(sql)
            return
        if first in ("UPDATE", "DELETE"):
            yield self._update_delete(sql, first)
            return
        raise MssqlError(102, f"Incorrect syntax near '{head.group(1)}'.", 15)

    # --- name resolution ----------------------------------------------------------------------
    def _fq(self, db: str, t: TableInfo) -> str:
        return f"{q(db)}.{q(t.schema)}.{q(t.name)}"

    def _tempdb(self) -> str:
        db = self.server.resolve_database("tempdb")
        if db is None:
            self.server.create_database("tempdb")
            db = "tempdb"
        return db

    def _user_table(self, parts: list[str], text: str) -> tuple[str, TableInfo]:
        if parts and parts[-1].startswith("#"):
            if parts[-1].startswith("##"):
                raise unsupported("global temporary tables (##name)")
            stored = self.temp_tables.get(parts[-1].lower())
            t = self.server.table(self._tempdb(), "dbo", stored) if stored else None
            if t is None:
                raise MssqlError(208, f"Invalid object name '{text.strip()}'.")
            self._touched.add(f"tempdb.dbo.{t.name}".lower())
            return "tempdb", t
        db, schema, name = self.database, "dbo", parts[-1]
        if len(parts) >= 2:
            schema = parts[-2]
        if len(parts) == 3:
            found = self.server.resolve_database(parts[0])
            if found is None:
                raise MssqlError(208, f"Invalid object name '{text.strip()}'.")
            db = found
        t = self.server.table(db, schema, name)
        if t is None:
            raise MssqlError(208, f"Invalid object name '{text.strip()}'.")
        self._touched.add(f"{db}.{t.schema}.{t.name}".lower())
        return db, t

    def object_id(self, text: str) -> int | None:
        parts = name_parts(text)
        if not parts:
            return None
        try:
            db, t = self._user_table(parts, text)
        except MssqlError:
            return None
        return t.object_id

    # --- rewriting ------------------------------------------------------------------------------
    def _preprocess(self, sql: str) -> str:
        # CLR types are stored as text: their methods and constructors reduce to the text itself.
        sql = re.sub(r"((?:\[(?:[^\]]|\]\])+\]|\w+)(?:\s*\.\s*(?:\[(?:[^\]]|\]\])+\]|\w+))?)\s*\.\s*"
                     r"(STAsText|ToString|STAsTextZM)\s*\(\s*\)", r"MSSQL_UDT_TEXT(\1)", sql, flags=re.I)
        sql = re.sub(r"\b(?:geography|geometry)\s*::\s*(?:STGeomFromText|STPointFromText|Parse|STGeomFromWKB)\s*"
                     r"\(\s*(N?'(?:[^']|'')*')\s*(?:,\s*\d+\s*)?\)", r"\1", sql, flags=re.I)
        sql = re.sub(r"\bhierarchyid\s*::\s*(?:Parse|GetRoot)\s*\(\s*(N?'(?:[^']|'')*')?\s*\)",
                     lambda m: m.group(1) or "'/'", sql, flags=re.I)
        # #temp table names (sqlglot would drop the `#`).
        sql = re.sub(r"(?<![\w\]'\[#])(#{1,2}[A-Za-z_]\w*)", r"[\1]", sql)
        # `0x` alone is T-SQL's empty binary literal.
        sql = re.sub(r"(?<![\w'])0x(?![0-9A-Fa-f\w])", "CAST('' AS VARBINARY(1))", sql)
        # CHANGETABLE(CHANGES t, v) becomes a placeholder table resolved by _rewrite.
        sql = re.sub(rf"CHANGETABLE\s*\(\s*CHANGES\s+{_QNAME}\s*,\s*([^)]+?)\s*\)",
                     lambda m: f"[__changetable].[{m.group(1).replace(']', ']]')}|{m.group(2).strip()}]", sql,
                     flags=re.I)
        return sql

    def parse(self, sql: str) -> exp.Expression:
        try:
            tree = sqlglot.parse_one(self._preprocess(sql), read="tsql")
            for ident in tree.find_all(exp.Identifier):
                if ident.args.get("temporary"):  # sqlglot keeps #name as name + a flag
                    ident.set("this", "#" + ident.this)
                    ident.set("temporary", None)
            for length in list(tree.find_all(exp.Length)):
                # sqlglot reads LEN(x) as LENGTH(CAST(x AS TEXT)): keep x and its type.
                arg = length.this
                if isinstance(arg, exp.Cast) and arg.to.this == exp.DataType.Type.TEXT:
                    arg = arg.this
                replacement = exp.Anonymous(this="LEN", expressions=[arg])
                if length is tree:
                    return replacement
                length.replace(replacement)
            return tree
        except sqlglot.errors.ParseError as exc:
            raise MssqlError(102, f"Incorrect syntax near '{_near(sql, exc)}'.", 15) from None

    def _scope_tables(self, tree: exp.Expression) -> dict[str, tuple[str, TableInfo]]:
        """alias/name (lower) -> (db, table) for the user tables a statement reads."""
        out = {}
        for table in tree.find_all(exp.Table):
            if not isinstance(table.this, exp.Identifier):
                continue
            parts = [p for p in (table.catalog, table.db, table.name) if p]
            if parts and parts[0].lower() in ("__changetable",) or (len(parts) >= 2 and parts[-2].lower() in (
                    "sys", "information_schema")):
                continue
            try:
                db, t = self._user_table(parts, ".".join(parts))
            except MssqlError:
                continue
            out[(table.alias_or_name or t.name).lower()] = (db, t)
            out.setdefault(t.name.lower(), (db, t))
        return out

    @staticmethod
    def _column(node: exp.Column, scope: dict):
        """The table column a column reference names in `scope` (by its qualifier, or the first
        table of the scope that has it), or None."""
        qualifier = node.table.lower() if node.table else None
        candidates = [scope[qualifier]] if qualifier and qualifier in scope else list(scope.values())
        for _, t in candidates:
            c = t.column(node.name)
            if c is not None:
                return c
        return None

    def column_type(self, node: exp.Expression, scope: dict) -> T.SqlType | None:
        if isinstance(node, exp.Column):
            c = self._column(node, scope)
            if c is not None:
                return c.sql_type
        if isinstance(node, (exp.Paren, exp.Min, exp.Max)):
            # MIN/MAX have their argument's type, so CONVERT(..., MAX(dt2), 121) keeps its digits.
            return self.column_type(node.this, scope)
        return None

    def string_kind(self, node: exp.Expression, scope) -> str | None:
        """'n' (Unicode), 'v' (non-Unicode) when `node` is a character string expression, else None."""
        if isinstance(node, exp.Literal) and node.is_string:
            return "n" if node.meta.get("national") else "v"
        if isinstance(node, exp.Paren):
            return self.string_kind(node.this, scope)
        if isinstance(node, exp.Column):
            t = self.column_type(node, scope)
            if t is not None and t.name in ("char", "varchar", "text"):
                return "v"
            if t is not None and t.name in ("nchar", "nvarchar", "ntext"):
                return "n"
            return None
        if isinstance(node, (exp.Cast, exp.TryCast)):
            target = node.to.this
            if target in (exp.DataType.Type.NVARCHAR, exp.DataType.Type.NCHAR):
                return "n"
            if target in (exp.DataType.Type.VARCHAR, exp.DataType.Type.CHAR, exp.DataType.Type.TEXT):
                return node.meta.get("kind", "v")
            return None
        if isinstance(node, exp.Anonymous) and node.name.lower() in ("left", "right", "rtrim", "ltrim", "trim",
                                                                      "replace", "concat", "mssql_dt2_text"):
            kinds = [self.string_kind(a, scope) for a in node.expressions[:1]]
            return kinds[0] or "v"
        if isinstance(node, (exp.Upper, exp.Lower, exp.Substring, exp.Trim, exp.DPipe)):
            return self.string_kind(node.this, scope) or "v"
        return None

    def column_collation(self, node: exp.Expression, scope) -> str | None:
        """The DuckDB collation a column reference compares with, when not the database default."""
        if isinstance(node, exp.Collate):
            return node.expression.name
        if isinstance(node, exp.Column):
            c = self._column(node, scope)
            if c is not None:
                return duck_collation(c.collation)
        return None

    def _rewrite_tree(self, tree: exp.Expression) -> exp.Expression:
        for select in tree.find_all(exp.Select):
            if select.args.get("options"):
                raise unsupported("query hints (OPTION (...))")
        scope = self._scope_tables(tree)
        ctes = {cte.alias.lower() for cte in tree.find_all(exp.CTE)}

        def rewrite(node: exp.Expression) -> exp.Expression:
            if (isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier) and not node.db
                    and node.name.lower() in ctes):
                return node
            if isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
                return self._rewrite_table(node)
            if isinstance(node, exp.Collate):
                return exp.Collate(this=node.this, expression=exp.Var(this=duck_collation(node.expression.name)))
            if isinstance(node, exp.Add) and (self.string_kind(node.this, scope) or self.string_kind(
                    node.expression, scope)):
                # `+` between strings concatenates; NULL + string is NULL (CONCAT_NULL_YIELDS_NULL ON).
                kind = "n" if "n" in (self.string_kind(node.this, scope), self.string_kind(node.expression, scope)) \
                    else "v"
                out = exp.Cast(this=exp.DPipe(this=node.this, expression=node.expression, safe=False),
                               to=exp.DataType.build("VARCHAR"))
                out.meta["kind"] = kind
                return out
            if isinstance(node, (exp.Div, exp.Mod)):
                check = exp.EQ(this=node.expression.copy(), expression=exp.Literal.number(0))
                raise_ = exp.Anonymous(this="error", expressions=[
                    exp.Literal.string("MSSQL8134|Divide by zero error encountered.")])
                return exp.Case(ifs=[exp.If(this=check, true=raise_)], default=node)
            if isinstance(node, (exp.EQ, exp.NEQ)) and self.string_kind(node.this, scope) and self.string_kind(
                    node.expression, scope):
                # Comparisons ignore trailing blanks (ANSI padding) under every collation.
                collation = self.column_collation(node.this, scope) or self.column_collation(node.expression, scope)
                sides = []
                for side in (node.this, node.expression):
                    inner = side.this if isinstance(side, exp.Collate) else side
                    trimmed = exp.Anonymous(this="rtrim", expressions=[inner])
                    sides.append(exp.Collate(this=trimmed, expression=exp.Var(this=collation)) if collation
                                 else trimmed)
                return type(node)(this=sides[0], expression=sides[1])
            if isinstance(node, exp.Round) and node.args.get("truncate") is not None and not (
                    isinstance(node.args["truncate"], exp.Literal) and node.args["truncate"].name == "0"):
                return exp.Anonymous(this="trunc", expressions=[node.this, node.args.get("decimals")
                                                                or exp.Literal.number(0)])
            if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
                gs = node.this
                args = [gs.args["start"], gs.args["end"]] + ([gs.args["step"]] if gs.args.get("step") else [])
                call = exp.Anonymous(this="generate_series", expressions=args)
                sub = exp.select(exp.alias_(exp.column("generate_series"), "value")).from_(
                    exp.Table(this=call))
                return exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(node.alias or "gs")))
            if isinstance(node, exp.National):
                lit = exp.Literal.string(node.this)
                lit.meta["national"] = True
                return lit
            if isinstance(node, exp.Literal) and not node.is_string and "." in node.this and "e" not in node.this.lower():
                # A T-SQL decimal literal is DECIMAL(p,s) exactly; DuckDB would read a long one as DOUBLE.
                digits = node.this.lstrip("+-")
                whole, _, frac = digits.partition(".")
                precision = max(1, len(whole.lstrip("0")) + len(frac))
                if precision <= 38:
                    return exp.Cast(this=exp.Literal.string(node.this),
                                    to=exp.DataType.build(f"DECIMAL({max(precision, len(frac))},{len(frac)})"))
            if isinstance(node, exp.HexString):
                return exp.Anonymous(this="from_hex", expressions=[exp.Literal.string(node.this)])
            if isinstance(node, (exp.Cast, exp.TryCast)):
                return self._rewrite_cast(node.this, node.to, None, scope, safe=isinstance(node, exp.TryCast))
            if isinstance(node, exp.Convert):
                style = node.args.get("style")
                return self._rewrite_cast(node.expression, node.this, int(style.name) if style else None, scope)
            if isinstance(node, exp.Extract) and node.this.name.upper() == "TIMEZONE_MINUTE":
                inner_type = self.column_type(node.expression, scope)
                if inner_type is not None and inner_type.name == "datetimeoffset":
                    return exp.Anonymous(this="struct_extract",
                                         expressions=[node.expression, exp.Literal.string("offset")])
            if isinstance(node, exp.ObjectId):
                arg = node.this
                text = arg.this if isinstance(arg, (exp.National, exp.Literal)) else arg.sql()
                oid = self.object_id(text)
                return exp.Literal.number(oid) if oid is not None else exp.Null()
            if isinstance(node, exp.Parameter) and isinstance(node.this, exp.Literal):
                return node.this  # @@X whose inner @X was already resolved
            if isinstance(node, exp.Parameter) or isinstance(node, exp.SessionParameter):
                name = node.sql().lstrip("@").upper()
                if name == "VERSION":
                    return exp.Literal.string(VERSION_TEXT)
                if name == "SPID":
                    return exp.Literal.number(55)
                if name == "DBTS":
                    return exp.Literal.number(self._dbts_of(self.database))
                if name == "TRANCOUNT":
                    return exp.Literal.number(self.trancount)
                if name in ("ROWCOUNT", "ERROR"):
                    return exp.Literal.number(0)
            if isinstance(node, exp.Count) and "COUNT_BIG" in node.sql(dialect="tsql").upper():
                return node
            if isinstance(node, exp.Anonymous):
                return self._rewrite_function(node, scope)
            return node

        def postorder(node: exp.Expression) -> exp.Expression:
            # Children first, so a rewritten node is built from rewritten parts.
            for key, value in list(node.args.items()):
                if isinstance(value, exp.Expression):
                    node.set(key, postorder(value))
                elif isinstance(value, list):
                    node.set(key, [postorder(v) if isinstance(v, exp.Expression) else v for v in value])
            return rewrite(node)

        return postorder(tree.copy())

    def _rewrite_table(self, node: exp.Table) -> exp.Expression:
        if node.args.get("hints"):
            raise unsupported(f"table hints ({', '.join(h.sql(dialect='tsql') for h in node.args['hints'])})")
        parts = [p for p in (node.catalog, node.db, node.name) if p]
        alias = node.args.get("alias")
        if parts and parts[0].lower() == "__changetable":
            target, version = node.name.rsplit("|", 1)
            return self._changetable(target, version, alias)
        db = self.database
        if len(parts) == 3:
            db = self.server.resolve_database(parts[0]) or parts[0]
        if len(parts) >= 2 and parts[-2].lower() in ("information_schema", "sys"):
            view = parts[-1].lower()
            if parts[-2].lower() == "information_schema" and view in INFO_VIEWS:
                name = f"information_schema_{view}"
            elif parts[-2].lower() == "sys" and view in SYSTEM_VIEWS:
                name = view
            else:
                raise MssqlError(208, f"Invalid object name '{'.'.join(parts)}'.")
            return exp.Table(this=exp.to_identifier(name, quoted=True), db=exp.to_identifier(SYS, quoted=True),
                             catalog=exp.to_identifier(db, quoted=True),
                             alias=alias or exp.TableAlias(this=exp.to_identifier(view)))
        if len(parts) == 1 and parts[0].lower() == "dual":
            return node
        found_db, t = self._user_table(parts, ".".join(parts))
        return exp.Table(this=exp.to_identifier(t.name, quoted=True), db=exp.to_identifier(t.schema, quoted=True),
                         catalog=exp.to_identifier(found_db, quoted=True), alias=alias)

    def _changetable(self, target: str, version: str, alias) -> exp.Expression:
        db, t = self._user_table(name_parts(target), target)
        if not t.ct_enabled:
            raise MssqlError(22105, f"Change tracking is not enabled on table '{t.schema}.{t.name}'.")
        keys = ", ".join(q(k) for k in t.primary_key)
        since = version.strip()
        if not re.fullmatch(r"-?\d+|NULL", since, re.I):
            raise MssqlError(102, f"Incorrect syntax near '{since}'.", 15)
        since_sql = "-1" if since.upper() == "NULL" else since
        sql = (f"SELECT {keys}, version AS SYS_CHANGE_VERSION, creation_version AS SYS_CHANGE_CREATION_VERSION, "
               f"CASE WHEN op = 'D' THEN 'D' WHEN creation_version > {since_sql} THEN 'I' ELSE 'U' END "
               f"AS SYS_CHANGE_OPERATION, NULL::BLOB AS SYS_CHANGE_COLUMNS, NULL::BLOB AS SYS_CHANGE_CONTEXT "
               f"FROM {q(db)}.{META}.{q(f'ct_{t.object_id}')} WHERE version > {since_sql}")
        sub = sqlglot.parse_one(sql, read="duckdb")
        return exp.Subquery(this=sub, alias=alias or exp.TableAlias(this=exp.to_identifier("CT")))

    def _rewrite_function(self, node: exp.Anonymous, scope) -> exp.Expression:
        name = node.name.upper()
        args = node.expressions
        if name == "COUNT_BIG":
            return exp.Count(this=args[0] if args else exp.Star())
        if name == "MSSQL_UDT_TEXT":  # geography.STAsText(), hierarchyid.ToString(): the stored text
            return exp.Cast(this=args[0], to=exp.DataType.build("VARCHAR"))
        if name == "CHOOSE":
            return exp.Anonymous(this="list_extract", expressions=[exp.Array(expressions=args[1:]), args[0]])
        if name == "DB_NAME":
            return exp.Literal.string(self.database)
        if name == "DB_ID":
            target = args[0].name if args else self.database
            db = self.server.resolve_database(target)
            return exp.Literal.number(self.server.db_ids[db]) if db else exp.Null()
        if name == "SCHEMA_NAME":
            if not args:
                return exp.Literal.string("dbo")
            return sqlglot.parse_one(f"(SELECT name FROM {q(self.database)}.{SYS}.schemas WHERE schema_id = "
                                     f"{args[0].sql(dialect='duckdb')})", read="duckdb")
        if name == "OBJECT_NAME":
            return sqlglot.parse_one(f"(SELECT name FROM {q(self.database)}.{SYS}.tables WHERE object_id = "
                                     f"{args[0].sql(dialect='duckdb')})", read="duckdb")
        if name == "SERVERPROPERTY":
            prop = args[0].name.lower() if args else ""
            value = {"productversion": PRODUCT_VERSION, "productlevel": "RTM", "edition": "Developer Edition (64-bit)",
                     "engineedition": "3", "productmajorversion": "16", "servername": "mssql-standin",
                     "collation": "SQL_Latin1_General_CP1_CI_AS"}.get(prop)
            return exp.Literal.string(value) if value is not None else exp.Null()
        if name == "CHANGE_TRACKING_CURRENT_VERSION":
            if self.server.setting(self.database, "ct_enabled") != "1":
                return exp.Null()
            return exp.Literal.number(int(self.server.setting(self.database, "ct_version", "0")))
        if name == "CHANGE_TRACKING_MIN_VALID_VERSION":
            oid = args[0]
            oid_value = int(oid.name) if isinstance(oid, exp.Literal) else None
            t = self.server.table_by_id(self.database, oid_value) if oid_value is not None else None
            if t is None or not t.ct_enabled:
                return exp.Null()
            return exp.Literal.number(int(self.server.setting(self.database, f"ct_min_valid:{t.object_id}", "0")))
        if name == "MIN_ACTIVE_ROWVERSION":
            # The lowest rowversion still active: one an open transaction wrote, else @@DBTS + 1.
            active = [rv for db, rv in self.server.active_rowversions.values() if db == self.database]
            return exp.Literal.number(min(active) if active else self._dbts() + 1)
        if name in ("GETDATE", "SYSDATETIME", "CURRENT_TIMESTAMP"):
            return sqlglot.parse_one("CAST(now() AS TIMESTAMP)", read="duckdb")
        if name in ("GETUTCDATE", "SYSUTCDATETIME"):
            return sqlglot.parse_one("CAST(timezone('UTC', now()) AS TIMESTAMP)", read="duckdb")
        if name == "NEWID":
            return exp.Anonymous(this="uuid", expressions=[])
        if name == "LEN":
            # Characters without trailing blanks; in Unicode text a supplementary character is 2.
            kind = self.string_kind(args[0], scope)
            text = exp.Anonymous(this="rtrim", expressions=[args[0] if kind else exp.Cast(
                this=args[0], to=exp.DataType.build("VARCHAR"))])
            return exp.Anonymous(this="mssql_len16" if kind == "n" else "length", expressions=[text])
        if name == "DATALENGTH":
            kind = self.string_kind(args[0], scope)
            if kind == "n":
                return exp.Mul(this=exp.Literal.number(2), expression=exp.Anonymous(this="mssql_len16",
                                                                                     expressions=[args[0]]))
            if kind == "v":
                return exp.Length(this=args[0])
            return exp.Anonymous(this="octet_length", expressions=[exp.Cast(this=args[0], to=exp.DataType.build("BLOB"))])
        if name == "CHECKSUM":
            return self._checksum(args, scope)
        if name in ("BINARY_CHECKSUM", "CHECKSUM_AGG", "HASHBYTES", "SOUNDEX", "DIFFERENCE",
                    "COLLATIONPROPERTY", "TERTIARY_WEIGHTS"):
            raise unsupported(f"the function {name}")
        if name == "ISJSON":
            return exp.Anonymous(this="json_valid", expressions=args)
        return node

    def _checksum(self, args: list, scope) -> exp.Expression:
        """CHECKSUM(expr, ...) / CHECKSUM(*): an int, equal for argument lists that compare equal.

        SQL Server does not document its hash's bit pattern, so the stand-in hashes (DuckDB's
        `hash`, cut to 32 bits) the values as the column's collation compares them: strings
        without trailing blanks, lowercased under a case-insensitive collation (also without
        accents under _AI), Unicode strings without the dash N'-' (which CHECKSUM ignores).
        NULLs hash alike. text, ntext, image and xml are noncomparable: an error.
        """
        if len(args) == 1 and isinstance(args[0], exp.Star):
            tables = list({id(t): t for _, t in scope.values()}.values())
            if len(tables) != 1:
                raise unsupported("CHECKSUM(*) over other than one table")
            args = [exp.column(c.name, quoted=True) for c in tables[0].columns]
        if not args:
            raise MssqlError(174, "The checksum function requires 1 argument(s).", 15)
        parts = []
        for i, arg in enumerate(args, 1):
            inner = arg.this if isinstance(arg, exp.Collate) else arg
            sql_type = self.column_type(inner, scope)
            if sql_type is not None and sql_type.name in ("text", "ntext", "image", "xml"):
                raise MssqlError(8116, f"Argument data type {sql_type.name} is invalid for argument {i} of "
                                       f"checksum function.")
            kind = self.string_kind(inner, scope)
            if kind is None:
                parts.append(arg)
                continue
            collation = self.column_collation(arg, scope) or "nocase"
            value = exp.Anonymous(this="rtrim", expressions=[
                exp.Cast(this=inner, to=exp.DataType.build("VARCHAR")), exp.Literal.string(" ")])
            if kind == "n":
                value = exp.Anonymous(this="replace", expressions=[value, exp.Literal.string("-"),
                                                                   exp.Literal.string("")])
            if collation.startswith("nocase"):
                value = exp.Lower(this=value)
            if collation == "nocase.noaccent":
                value = exp.Anonymous(this="strip_accents", expressions=[value])
            parts.append(value)
        hashed = exp.Anonymous(this="hash", expressions=parts)
        return sqlglot.parse_one(f"CAST(CAST({hashed.sql(dialect='duckdb')} % 4294967296 AS BIGINT) - 2147483648 "
                                 f"AS INTEGER)", read="duckdb")

    def _dbts(self) -> int:
        return int(self.server.setting(self.database, "dbts_last", "2000"))

    def _rewrite_cast(self, inner: exp.Expression, to: exp.DataType, style: int | None, scope,
                      safe: bool = False) -> exp.Expression:
        target = _sql_type(to)
        sized = (exp.DataType.Type.CHAR, exp.DataType.Type.VARCHAR, exp.DataType.Type.NCHAR, exp.DataType.Type.NVARCHAR)
        if target is not None and to.this in sized and not to.expressions:
            target = T.SqlType(target.name, 30)  # CAST/CONVERT to (N)(VAR)CHAR without a length means 30
        source = self.column_type(inner, scope)
        if target is None:
            return exp.Cast(this=inner, to=to)
        tn = target.name
        if source is not None and source.name == "datetimeoffset":
            utc = exp.Anonymous(this="struct_extract", expressions=[inner, exp.Literal.string("utc")])
            offset = exp.Anonymous(this="struct_extract", expressions=[inner, exp.Literal.string("offset")])
            if tn in ("datetime2", "datetime", "smalldatetime", "date", "time"):
                base = utc if style == 1 else sqlglot.parse_one(
                    f"({utc.sql('duckdb')} + to_minutes({offset.sql('duckdb')}))", read="duckdb")
                return exp.Cast(this=base, to=exp.DataType.build(target.duckdb, dialect="duckdb"))
            if tn in T.CHAR_TYPES:
                return sqlglot.parse_one(f"mssql_dto_text({inner.sql('duckdb')}, {source.scale})", read="duckdb")
        if source is not None and source.name == "timestamp" and tn == "bigint":
            return inner
        if tn == "binary" and target.length == 8:
            return exp.Cast(this=inner, to=exp.DataType.build("BIGINT"))
        if tn in T.CHAR_TYPES:
            if source is not None and source.name == "uniqueidentifier":
                text = exp.Upper(this=exp.Cast(this=inner, to=exp.DataType.build("VARCHAR")))
            elif source is not None and source.name == "time":
                text = sqlglot.parse_one(f"mssql_time_text({inner.sql('duckdb')}, {source.scale})", read="duckdb")
            elif source is not None and source.name == "datetime2":
                text = sqlglot.parse_one(f"mssql_dt2_text({inner.sql('duckdb')}, {source.scale})", read="duckdb")
            elif source is not None and source.name in ("datetime", "smalldatetime"):
                # SQL Server shows datetime to the millisecond (its 1/300 s ticks rounded).
                text = sqlglot.parse_one(f"mssql_datetime_text({inner.sql('duckdb')})", read="duckdb")
            else:
                text = (exp.TryCast if safe else exp.Cast)(this=inner, to=exp.DataType.build("VARCHAR"))
            if target.length not in (None, T.MAX):
                return exp.Anonymous(this="left", expressions=[text, exp.Literal.number(target.length)])
            return text
        if tn in ("geography", "geometry", "hierarchyid", "xml", "sql_variant"):
            return exp.Cast(this=inner, to=exp.DataType.build("VARCHAR"))
        if tn in ("tinyint", "smallint", "int", "bigint") and self._fractional(inner, scope):
            # Converting decimal, float or money to an integer truncates (DuckDB would round).
            inner = exp.Anonymous(this="trunc", expressions=[inner])
        if tn in ("datetime2", "time") and target.scale is not None and target.scale < 6:
            cast = (exp.TryCast if safe else exp.Cast)(this=inner, to=exp.DataType.build(target.duckdb, dialect="duckdb"))
            macro = "mssql_round_ts" if tn == "datetime2" else "mssql_round_time"
            return exp.Anonymous(this=macro, expressions=[cast, exp.Literal.number(10 ** (6 - target.scale))])
        return (exp.TryCast if safe else exp.Cast)(this=inner, to=exp.DataType.build(target.duckdb, dialect="duckdb"))

    def _fractional(self, node: exp.Expression, scope) -> bool:
        """Whether `node` is numeric with a fractional part (decimal, float, money)."""
        if isinstance(node, (exp.Paren, exp.Neg)):
            return self._fractional(node.this, scope)
        if isinstance(node, exp.Literal):
            return not node.is_string and ("." in node.this or "e" in node.this.lower())
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return node.to.this in (exp.DataType.Type.DECIMAL, exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT,
                                    exp.DataType.Type.MONEY, exp.DataType.Type.SMALLMONEY)
        if isinstance(node, exp.Column):
            t = self.column_type(node, scope)
            return t is not None and t.name in ("decimal", "numeric", "float", "real", "money", "smallmoney")
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Div)):
            return self._fractional(node.this, scope) or self._fractional(node.expression, scope)
        if isinstance(node, exp.Case):
            return self._fractional(node.args.get("default"), scope) if node.args.get("default") else False
        if isinstance(node, (exp.Round, exp.Avg)):
            return True
        return False

    def translate(self, tree: exp.Expression) -> str:
        return self._rewrite_tree(tree).sql(dialect="duckdb")

    # --- SELECT ---------------------------------------------------------------------------------
    def infer_types(self, tree: exp.Expression) -> list[tuple[str, T.SqlType | None]]:
        """Output column names and their SQL Server types, where the query says them."""
        if isinstance(tree, exp.Subquery):
            tree = tree.this
        if isinstance(tree, exp.Union):
            return self.infer_types(tree.this)
        if not isinstance(tree, exp.Select):
            return []
        derived: dict[str, list[tuple[str, T.SqlType | None]]] = {}
        scope: dict[str, tuple[str, TableInfo]] = {}  # user tables read directly by this SELECT
        sources = []
        from_ = tree.args.get("from_") or tree.args.get("from")
        joins = tree.args.get("joins") or []
        for src in ([from_.this] if from_ else []) + [j.this for j in joins]:
            if isinstance(src, exp.Subquery):
                cols = self.infer_types(src.this)
                derived[(src.alias or "").lower()] = cols
                sources.append(("derived", cols))
            elif isinstance(src, exp.Table) and isinstance(src.this, exp.Identifier):
                parts = [p for p in (src.catalog, src.db, src.name) if p]
                if parts and parts[0].lower() == "__changetable":
                    target = src.name.rsplit("|", 1)[0]
                    _, t = self._user_table(name_parts(target), target)
                    cols = [(k, t.column(k).sql_type) for k in t.primary_key] + [
                        ("SYS_CHANGE_VERSION", T.SqlType("bigint")), ("SYS_CHANGE_CREATION_VERSION", T.SqlType("bigint")),
                        ("SYS_CHANGE_OPERATION", T.SqlType("nchar", 1)),
                        ("SYS_CHANGE_COLUMNS", T.SqlType("varbinary", 4100)),
                        ("SYS_CHANGE_CONTEXT", T.SqlType("varbinary", 128))]
                    derived[(src.alias or "ct").lower()] = cols
                    sources.append(("derived", cols))
                    continue
                if len(parts) >= 2 and parts[-2].lower() in ("sys", "information_schema"):
                    continue
                try:
                    found = self._user_table(parts, ".".join(parts))
                except MssqlError:
                    continue
                scope[(src.alias_or_name or found[1].name).lower()] = found
                sources.append(("table", [(c.name, c.sql_type) for c in found[1].columns]))
        out: list[tuple[str, T.SqlType | None]] = []
        for i, projection in enumerate(tree.expressions):
            if isinstance(projection, exp.Star):
                for _, cols in sources:
                    out.extend(cols)
                continue
            if isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                cols = derived.get(projection.table.lower())
                if cols is None and projection.table.lower() in scope:
                    cols = [(c.name, c.sql_type) for c in scope[projection.table.lower()][1].columns]
                out.extend(cols or [])
                continue
            if isinstance(projection, exp.Alias):
                name = projection.alias
            elif isinstance(projection, exp.Column):
                name = projection.name
            else:
                name = ""  # SQL Server leaves an unnamed expression's column name empty
            expr = projection.this if isinstance(projection, exp.Alias) else projection
            out.append((name, self._expr_type(expr, scope, derived)))
        return out

    def _expr_type(self, expr, scope, derived) -> T.SqlType | None:
        if isinstance(expr, exp.Paren):
            return self._expr_type(expr.this, scope, derived)
        if isinstance(expr, exp.Column):
            if expr.table and expr.table.lower() in derived:
                for n, t in derived[expr.table.lower()]:
                    if n.lower() == expr.name.lower():
                        return t
            if not expr.table:
                for cols in derived.values():
                    for n, t in cols:
                        if n.lower() == expr.name.lower():
                            return t
            return self.column_type(expr, scope)
        if isinstance(expr, (exp.Cast, exp.TryCast)):
            return _sql_type(expr.to)
        if isinstance(expr, exp.Convert):
            return _sql_type(expr.this)
        if isinstance(expr, (exp.Min, exp.Max)):
            return self._expr_type(expr.this, scope, derived)
        if isinstance(expr, exp.Count):
            return T.SqlType("bigint") if "COUNT_BIG" in expr.sql(dialect="tsql").upper() else T.SqlType("int")
        if isinstance(expr, exp.Anonymous) and expr.name.upper() == "COUNT_BIG":
            return T.SqlType("bigint")
        if isinstance(expr, exp.Lower) or isinstance(expr, exp.Upper):
            inner = self._expr_type(expr.this, scope, derived)
            return inner if inner is not None and inner.name in T.CHAR_TYPES else None
        if isinstance(expr, exp.Extract) and expr.this.name.upper() == "TIMEZONE_MINUTE":
            return T.SqlType("int")
        if isinstance(expr, exp.Anonymous) and expr.name.upper() == "MSSQL_UDT_TEXT":
            return T.SqlType("nvarchar", T.MAX)
        return None

    def _select(self, sql: str) -> Result:
        self._touched = set()
        tree = self.parse(sql)
        declared = self.infer_types(tree)
        query = self.translate(tree)
        self._check_snapshot({name.split(".")[0] for name in self._touched})
        try:
            relation = self.cursor.sql(query)
        except Exception as exc:  # noqa: BLE001 - DuckDB's errors become SQL Server's
            self._doom()
            raise _map_error(exc, sql) from None
        columns = []
        for i, (duck_name, duck_type) in enumerate(zip(relation.columns, relation.types)):
            name = declared[i][0] if i < len(declared) else duck_name
            sql_type = declared[i][1] if i < len(declared) and declared[i][1] is not None else _from_duck(str(duck_type))
            columns.append((name, sql_type))
        batches = self._batches(relation, columns)
        fault = self.server.faults.take(self._touched)
        if fault is not None:
            batches = fault.apply(batches)
        return Result(columns=columns, batches=batches, command=CMD_SELECT)

    def _batches(self, relation, columns) -> Iterator[list[list]]:
        try:
            reader = relation.to_arrow_reader(BATCH_ROWS)
        except Exception as exc:  # noqa: BLE001
            self._doom()
            raise _map_error(exc, "") from None
        kinds = [c[1].name for c in columns]
        for batch in reader:
            cols = []
            for i, kind in enumerate(kinds):
                arr = batch.column(i)
                if pa.types.is_timestamp(arr.type):
                    cols.append(_timestamps(arr))
                elif pa.types.is_struct(arr.type) and arr.type.get_field_index("utc") >= 0:
                    utc = _timestamps(arr.field("utc"))
                    off = arr.field("offset").to_pylist()
                    valid = arr.is_valid().to_pylist()
                    cols.append([(u, o) if v else None for u, o, v in zip(utc, off, valid)])
                else:
                    cols.append(arr.to_pylist())
            yield [list(r) for r in zip(*cols)] if cols else []

    # --- IF / EXEC --------------------------------------------------------------------------------
    def _if(self, sql: str) -> Iterator[Result]:
        m = re.match(r"\s*IF\s+(.+?)\s+((?:BEGIN\s+)?(?:CREATE|DROP|ALTER|INSERT|UPDATE|DELETE|TRUNCATE|EXEC|"
                     r"EXECUTE|SELECT|SET|PRINT|ROLLBACK|COMMIT|TRAN|TRANSACTION|DECLARE|USE)\b.*)$", sql, re.I | re.S)
        if not m:
            raise MssqlError(102, f"Incorrect syntax near '{sql[:30]}'.", 15)
        condition, body = m.group(1), m.group(2)
        if re.search(r"\bELSE\b", re.sub(r"N?'(?:[^']|'')*'", "''", body), re.I):
            raise unsupported("IF ... ELSE")
        body = re.sub(r"^BEGIN\s+(.*)\s+END\s*$", r"\1", body, flags=re.I | re.S)
        result = self._select(f"SELECT CASE WHEN {condition} THEN 1 ELSE 0 END")
        rows = [r for batch in result.batches for r in batch]
        if rows and rows[0][0] == 1:
            for statement in split_statements(body):
                for r in self._statement(statement):
                    if r.columns is None:
                        yield r
                    else:
                        yield r

    def _exec(self, sql: str) -> Iterator[Result]:
        m = re.match(r"\s*EXEC(?:UTE)?\s+([\w.\[\]]+)\s*(.*)$", sql, re.I | re.S)
        proc = ".".join(name_parts(m.group(1))).lower().removeprefix("sys.").removeprefix("dbo.")
        args = [a.strip() for a in _split_args(m.group(2))] if m.group(2).strip() else []
        named = {}
        positional = []
        for a in args:
            nm = re.match(r"@(\w+)\s*=\s*(.*)$", a, re.S)
            if nm:
                named[nm.group(1).lower()] = _literal_value(nm.group(2))
            else:
                positional.append(_literal_value(a))
        if proc == "sp_addextendedproperty":
            keys = ["name", "value", "level0type", "level0name", "level1type", "level1name"]
            props = dict(zip(keys, positional)) if positional else {k: named.get(k) for k in keys}
            if str(props.get("name")).lower() == "ms_description" and props.get("level1name"):
                db, t = self._user_table([props["level0name"], props["level1name"]],
                                         f"{props['level0name']}.{props['level1name']}")
                with self.server.lock:
                    t.description = str(props["value"])
                    self.server.save_table(db, t)
                    self.server.refresh(db)
            yield Result()
            return
        if proc == "sp_devservers_expire_change_tracking":
            # Stand-in only: what SQL Server's cleanup does once the retention period has passed.
            target = named.get("table") or (positional[0] if positional else None)
            db, t = self._user_table(name_parts(str(target)), str(target))
            with self.server.lock:
                current = int(self.server.setting(db, "ct_version", "0"))
                self.cursor.execute(f"DELETE FROM {q(db)}.{META}.{q(f'ct_{t.object_id}')} WHERE version <= ?",
                                    [current])
                # Every change up to the current version is purged: a client holding an older
                # version can no longer ask for changes; one holding the current version can.
                self.server.set_setting(db, f"ct_min_valid:{t.object_id}", str(current), self.cursor)
            yield Result()
            return
        if proc == "sp_devservers_fault":
            # Stand-in only: fault injection for tests (see Faults in catalog.py).
            def arg(name, index, default=None):
                value = named.get(name, positional[index] if len(positional) > index else default)
                return default if value is None else value
            self.server.faults.set(self, str(arg("table", 0)), str(arg("kind", 1, "slow")),
                                   after_rows=int(arg("after_rows", 2, 0)), delay_ms=int(arg("delay_ms", 3, 100)),
                                   times=int(arg("times", 4, 1)))
            yield Result()
            return
        if proc in ("sp_executesql",):
            text = positional[0] if positional else named.get("stmt")
            yield from self.execute(str(text))
            return
        raise MssqlError(2812, f"Could not find stored procedure '{m.group(1)}'.")

    # --- DDL --------------------------------------------------------------------------------------
    def _alter_database(self, sql: str) -> Iterator[Result]:
        sm = re.match(rf"\s*ALTER\s+DATABASE\s+({_BRACKET})\s+SET\s+(ALLOW_SNAPSHOT_ISOLATION|READ_COMMITTED_SNAPSHOT)"
                      r"\s+(ON|OFF)\s*(?:WITH\s+\w+(?:\s+AFTER\s+\d+\s+\w+)?)?\s*$", sql, re.I)
        if sm:
            name = unbracket(sm.group(1))
            db = self.server.resolve_database(self.database if name.upper() == "CURRENT" else name)
            if db is None:
                raise MssqlError(5011, f"User does not have permission to alter database '{name}', the database does "
                                       "not exist, or the database is not in a state that allows access checks.", 14)
            with self.server.lock:
                self.server.set_setting(db, sm.group(2).lower(), "1" if sm.group(3).upper() == "ON" else "0")
            yield Result()
            return
        if re.match(rf"\s*ALTER\s+DATABASE\s+{_BRACKET}\s+SET\s+(?!CHANGE_TRACKING)", sql, re.I):
            raise unsupported(f"'{sql.strip()[:80]}'")
        m = re.match(rf"\s*ALTER\s+DATABASE\s+({_BRACKET})\s+SET\s+CHANGE_TRACKING\s*=\s*(ON|OFF)", sql, re.I)
        if not m:
            raise MssqlError(102, "Incorrect syntax near 'SET'.", 15)
        db = self.server.resolve_database(unbracket(m.group(1)))
        if db is None:
            raise MssqlError(5011, f"User does not have permission to alter database '{unbracket(m.group(1))}', the "
                                   "database does not exist, or the database is not in a state that allows access "
                                   "checks.", 14)
        with self.server.lock:
            if m.group(2).upper() == "ON":
                if self.server.setting(db, "ct_enabled") == "1":
                    raise MssqlError(5088, f"Change tracking is already enabled for database '{db}'.")
                self.server.set_setting(db, "ct_enabled", "1")
                self.server.set_setting(db, "ct_version", self.server.setting(db, "ct_version", "0"))
            else:
                self.server.set_setting(db, "ct_enabled", "0")
        yield Result()

    def _parse_column(self, text: str, ordinal: int) -> tuple[ColumnInfo, bool]:
        m = re.match(rf"\s*({_BRACKET})\s+([A-Za-z_][\w]*(?:\s*\(\s*(?:MAX|\d+)\s*(?:,\s*\d+\s*)?\))?)(.*)$", text,
                     re.I | re.S)
        if not m:
            raise MssqlError(102, f"Incorrect syntax near '{text.strip()[:30]}'.", 15)
        name, type_text, rest = unbracket(m.group(1)), re.sub(r"\s+", "", m.group(2)), m.group(3)
        try:
            sql_type = T.parse(type_text)
        except T.TypeError_ as exc:
            raise MssqlError(2715, str(exc)) from None
        identity = None
        im = re.search(r"\bIDENTITY\s*(?:\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\))?", rest, re.I)
        if im:
            identity = (int(im.group(1) or 1), int(im.group(2) or 1))
        default = None
        dm = re.search(r"\bDEFAULT\s+(\(.*?\)|N?'(?:[^']|'')*'|[-\w.]+(?:\(\))?)", rest, re.I)
        if dm:
            default = dm.group(1)
        nullable = not re.search(r"\bNOT\s+NULL\b", rest, re.I)
        collation = None
        com = re.search(r"\bCOLLATE\s+(\w+)", rest, re.I)
        if com:
            if sql_type.name not in T.CHAR_TYPES:
                raise MssqlError(447, "Expression type int is invalid for COLLATE clause.", 16)
            duck_collation(com.group(1))
            collation = com.group(1)
        is_pk = bool(re.search(r"\bPRIMARY\s+KEY\b", rest, re.I))
        if re.search(r"\b(UNIQUE|CHECK|REFERENCES|FOREIGN)\b", re.sub(r"N?'(?:[^']|'')*'", "", rest), re.I):
            raise unsupported(f"the column constraint in '{text.strip()[:60]}' (only PRIMARY KEY is enforced)")
        if is_pk or identity or sql_type.name == "timestamp":
            nullable = nullable and not is_pk and not identity and sql_type.name != "timestamp"
        return ColumnInfo(name=name, type=str(sql_type), nullable=nullable, identity=identity, default=default,
                          column_id=ordinal, collation=collation), is_pk

    def _create_table(self, sql: str) -> None:
        m = re.match(rf"\s*CREATE\s+TABLE\s+{_QNAME}\s*\((.*)\)\s*(?:ON\s+\[?\w+\]?\s*)?$", sql, re.I | re.S)
        if not m:
            raise MssqlError(102, "Incorrect syntax near 'TABLE'.", 15)
        parts = name_parts(m.group(1))
        db = self.database
        temp_name = None
        if parts[-1].startswith("#"):
            if parts[-1].startswith("##"):
                raise unsupported("global temporary tables (##name)")
            if parts[-1].lower() in self.temp_tables:
                raise MssqlError(2714, f"There is already an object named '{parts[-1]}' in the database.")
            temp_name = parts[-1]
            parts = ["tempdb", "dbo", f"{parts[-1]}__{self.id}"]
            self._tempdb()
        if len(parts) == 3:
            db = self.server.resolve_database(parts[0])
            if db is None:
                raise MssqlError(2702, f"Database '{parts[0]}' does not exist.")
        schema = self.server.resolve_schema(db, parts[-2] if len(parts) >= 2 else "dbo")
        if schema is None:
            raise MssqlError(2760, f"The specified schema name \"{parts[-2]}\" either does not exist or you do not "
                                   "have permission to use it.")
        name = parts[-1]
        if self.server.table(db, schema, name) is not None:
            raise MssqlError(2714, f"There is already an object named '{name}' in the database.")
        columns, pk, pk_name = [], [], None
        for item in _split_args(m.group(2)):
            cm = re.match(rf"\s*(?:CONSTRAINT\s+({_BRACKET})\s+)?PRIMARY\s+KEY\s*(?:CLUSTERED|NONCLUSTERED)?\s*\((.*)\)",
                          item, re.I | re.S)
            if cm:
                pk_name = unbracket(cm.group(1)) if cm.group(1) else None
                pk = [unbracket(re.sub(r"\s+(ASC|DESC)$", "", p.strip(), flags=re.I)) for p in _split_args(cm.group(2))]
                continue
            if re.match(r"\s*INDEX\b", item, re.I):
                continue  # an index changes no result
            if re.match(r"\s*(CONSTRAINT|UNIQUE|CHECK|FOREIGN)\b", item, re.I):
                raise unsupported(f"the table constraint '{item.strip()[:60]}' (only PRIMARY KEY is enforced)")
            col, is_pk = self._parse_column(item, len(columns) + 1)
            if col.name.lower() in {c.name.lower() for c in columns}:
                raise MssqlError(2705, f"Column names in each table must be unique. Column name '{col.name}' in "
                                       f"table '{name}' is specified more than once.")
            columns.append(col)
            if is_pk:
                pk = [col.name]
        if sum(1 for c in columns if c.identity) > 1:
            raise MssqlError(2744, f"Multiple identity columns specified for table '{name}'. Only one identity column "
                                   "per table is allowed.")
        if sum(1 for c in columns if c.sql_type.name == "timestamp") > 1:
            raise MssqlError(2738, "A table can only have one timestamp column. Because table "
                                   f"'{name}' already has one, the column cannot be added.")
        for k in pk:
            col = next((c for c in columns if c.name.lower() == k.lower()), None)
            if col is None:
                raise MssqlError(1911, f"Column name '{k}' does not exist in the target table or view.")
            col.nullable = False
        pk = [next(c.name for c in columns if c.name.lower() == k.lower()) for k in pk]
        with self.server.lock:
            oid = self.server.new_object_id(db)
            t = TableInfo(object_id=oid, schema=schema, name=name, columns=columns, primary_key=pk,
                          pk_name=pk_name or (f"PK__{name[:8]}__{oid:X}" if pk else None))
            cols = ", ".join(f"{q(c.name)} {c.sql_type.duckdb}"
                             + (f" COLLATE {duck_collation(c.collation)}" if c.collation else "") for c in columns)
            self.cursor.execute(f"CREATE TABLE {self._fq(db, t)} ({cols})")
            ident = t.identity
            if ident:
                self.cursor.execute(f"CREATE SEQUENCE {q(db)}.{META}.{q(f'ident_{oid}')} START {ident.identity[0]} "
                                    f"INCREMENT {ident.identity[1]}")
            self.cursor.execute(f"INSERT INTO {q(db)}.{META}.tables (object_id, schema_name, name, def) "
                                "VALUES (?, ?, ?, ?)", [oid, schema, name, t.to_json()])
            self.server.refresh(db)
            if temp_name:
                self.temp_tables[temp_name.lower()] = name

    def _drop_table(self, sql: str) -> None:
        m = re.match(rf"\s*DROP\s+TABLE\s+(IF\s+EXISTS\s+)?{_QNAME}\s*$", sql, re.I)
        if not m:
            raise MssqlError(102, "Incorrect syntax near 'TABLE'.", 15)
        try:
            db, t = self._user_table(name_parts(m.group(2)), m.group(2))
        except MssqlError:
            if m.group(1):
                return
            raise MssqlError(3701, f"Cannot drop the table '{m.group(2).strip()}', because it does not exist or "
                                   "you do not have permission.", 11) from None
        with self.server.lock:
            self.cursor.execute(f"DROP TABLE {self._fq(db, t)}")
            self.cursor.execute(f"DROP TABLE IF EXISTS {q(db)}.{META}.{q(f'ct_{t.object_id}')}")
            self.cursor.execute(f"DROP SEQUENCE IF EXISTS {q(db)}.{META}.{q(f'ident_{t.object_id}')}")
            self.cursor.execute(f"DELETE FROM {q(db)}.{META}.tables WHERE object_id = ?", [t.object_id])
            self.server.refresh(db)
            for key, stored in list(self.temp_tables.items()):
                if db == "tempdb" and stored == t.name:
                    del self.temp_tables[key]

    def _alter_table(self, sql: str) -> None:
        m = re.match(rf"\s*ALTER\s+TABLE\s+{_QNAME}\s+(.*)$", sql, re.I | re.S)
        db, t = self._user_table(name_parts(m.group(1)), m.group(1))
        action = m.group(2).strip()
        fq = self._fq(db, t)
        with self.server.lock:
            if re.match(r"ENABLE\s+CHANGE_TRACKING", action, re.I):
                if self.server.setting(db, "ct_enabled") != "1":
                    raise MssqlError(4997, f"Cannot enable change tracking on table '{t.name}'. Change tracking must "
                                           "be enabled on the database first.")
                if not t.primary_key:
                    raise MssqlError(4997, f"Cannot enable change tracking on table '{t.name}'. Change tracking "
                                           "requires a primary key on the table. Create a primary key on the table "
                                           "before enabling change tracking.")
                keys = ", ".join(f"{q(k)} {t.column(k).sql_type.duckdb}" for k in t.primary_key)
                self.cursor.execute(f"CREATE TABLE IF NOT EXISTS {q(db)}.{META}.{q(f'ct_{t.object_id}')} ({keys}, "
                                    "version BIGINT, creation_version BIGINT, op VARCHAR)")
                t.ct_enabled = True
                current = self.server.setting(db, "ct_version", "0")
                self.server.set_setting(db, f"ct_min_valid:{t.object_id}", current)
            elif re.match(r"DISABLE\s+CHANGE_TRACKING", action, re.I):
                t.ct_enabled = False
                self.cursor.execute(f"DROP TABLE IF EXISTS {q(db)}.{META}.{q(f'ct_{t.object_id}')}")
            elif re.match(r"ADD\s+CONSTRAINT\s+.*PRIMARY\s+KEY", action, re.I | re.S):
                cm = re.search(r"CONSTRAINT\s+(\S+)\s+PRIMARY\s+KEY\s*(?:CLUSTERED|NONCLUSTERED)?\s*\((.*)\)", action,
                               re.I | re.S)
                t.pk_name = unbracket(cm.group(1))
                t.primary_key = [t.column(unbracket(p)).name for p in _split_args(cm.group(2))]
            elif re.match(r"ADD\b", action, re.I):
                for item in _split_args(re.sub(r"^ADD\s+(COLUMN\s+)?", "", action, flags=re.I)):
                    col, _ = self._parse_column(item, max(c.column_id for c in t.columns) + 1)
                    if t.column(col.name) is not None:
                        raise MssqlError(2705, f"Column names in each table must be unique. Column name "
                                               f"'{col.name}' in table '{t.name}' is specified more than once.")
                    if not col.nullable and col.default is None:
                        raise MssqlError(4901, f"ALTER TABLE only allows columns to be added that can contain nulls, "
                                               f"or have a DEFAULT definition specified, or the column being added "
                                               f"is an identity or timestamp column, or alternatively if none of the "
                                               f"previous conditions are satisfied the table must be empty to allow "
                                               f"addition of this column. Column '{col.name}' cannot be added to "
                                               f"non-empty table '{t.name}' because it does not satisfy these "
                                               "conditions.")
                    self.cursor.execute(f"ALTER TABLE {fq} ADD COLUMN {q(col.name)} {col.sql_type.duckdb}")
                    if col.sql_type.name == "timestamp":
                        self.cursor.execute(f"UPDATE {fq} SET {q(col.name)} = nextval('{db}.{META}.dbts')")
                    elif col.default is not None:
                        default = self.translate(self.parse(f"SELECT {col.default}")).removeprefix("SELECT ")
                        self.cursor.execute(f"UPDATE {fq} SET {q(col.name)} = {default}")
                    t.columns.append(col)
            elif re.match(r"DROP\s+COLUMN\b", action, re.I):
                for name in _split_args(re.sub(r"^DROP\s+COLUMN\s+(IF\s+EXISTS\s+)?", "", action, flags=re.I)):
                    col = t.column(unbracket(name))
                    if col is None:
                        raise MssqlError(4924, f"ALTER TABLE DROP COLUMN failed because column '{unbracket(name)}' "
                                               f"does not exist in table '{t.name}'.")
                    if col.name in t.primary_key:
                        raise MssqlError(5074, f"The object '{t.pk_name}' is dependent on column '{col.name}'.")
                    self.cursor.execute(f"ALTER TABLE {fq} DROP COLUMN {q(col.name)}")
                    t.columns = [c for c in t.columns if c.name != col.name]
            elif re.match(r"ALTER\s+COLUMN\b", action, re.I):
                col, _ = self._parse_column(re.sub(r"^ALTER\s+COLUMN\s+", "", action, flags=re.I), 0)
                old = t.column(col.name)
                if old is None:
                    raise MssqlError(4924, f"ALTER TABLE ALTER COLUMN failed because column '{col.name}' does not "
                                           f"exist in table '{t.name}'.")
                try:
                    self.cursor.execute(f"ALTER TABLE {fq} ALTER COLUMN {q(old.name)} TYPE {col.sql_type.duckdb} "
                                        f"USING CAST({q(old.name)} AS {col.sql_type.duckdb})")
                except Exception as exc:  # noqa: BLE001
                    raise MssqlError(245, f"Conversion failed when converting column '{old.name}' to data type "
                                          f"{col.type.lower()}: {str(exc).splitlines()[0]}") from None
                old.type = col.type
                old.nullable = col.nullable if old.name not in t.primary_key else False
            else:
                raise MssqlError(102, f"Incorrect syntax near '{action.split()[0]}'.", 15)
            self.server.save_table(db, t)
            self.server.touch(db, t.object_id)
            self.server.refresh(db)

    # --- DML ----------------------------------------------------------------------------------
    def _coerce(self, expr: str, c: ColumnInfo, t: TableInfo, db: str, checks: list[str] | None = None) -> str:
        """A DuckDB expression storing `expr` in column `c`, with SQL Server's checks. With `checks`,
        a too-long value is not raised inside DuckDB (which would abort an open transaction) but
        reported by an expression appended to `checks` (its error text, else NULL)."""
        st = c.sql_type
        n = st.name
        where = f"{db}.{t.schema}.{t.name}".replace("'", "''")
        cname = c.name.replace("'", "''")

        def truncation(v: str, shown: str) -> str:
            # The message shows the value as it would have been stored: cut to the column's length.
            return (f"error('MSSQL2628|String or binary data would be truncated in table ''{where}'', column "
                    f"''{cname}''. Truncated value: ''' || {shown} || '''.')")

        if n in ("char", "varchar", "nchar", "nvarchar") and st.length not in (None, T.MAX):
            v = f"CAST({expr} AS VARCHAR)"
            # nchar/nvarchar(n) count UTF-16 byte-pairs (a supplementary character takes two); blanks
            # past the length are cut without an error.
            size = "mssql_len16" if n in ("nchar", "nvarchar") else "length"
            too_long = f"{size}(rtrim({v})) > {st.length}"
            if checks is not None:
                checks.append(f"CASE WHEN {too_long} THEN 'MSSQL2628|String or binary data would be truncated in "
                              f"table ''{where}'', column ''{cname}''. Truncated value: ''' || left({v}, "
                              f"{st.length}) || '''.' END")
                body = f"CASE WHEN {size}({v}) <= {st.length} THEN {v} ELSE left({v}, {st.length}) END"
                return f"rpad({body}, {st.length}, ' ')" if n in ("char", "nchar") else body
            body = (f"CASE WHEN {size}({v}) <= {st.length} THEN {v} WHEN {size}(rtrim({v})) <= {st.length} "
                    f"THEN left({v}, {st.length}) ELSE {truncation(v, f'left({v}, {st.length})')} END")
            return f"rpad({body}, {st.length}, ' ')" if n in ("char", "nchar") else body
        if n in ("binary", "varbinary") and st.length not in (None, T.MAX):
            v = f"CAST({expr} AS BLOB)"
            body = (f"CASE WHEN octet_length({v}) > {st.length} THEN "
                    f"{truncation(v, f'left(hex({v}), {2 * st.length})')} ELSE {v} END")
            return f"mssql_pad_binary({body}, {st.length})" if n == "binary" else body
        if n == "datetime":
            return f"mssql_datetime(CAST({expr} AS TIMESTAMP))"
        if n == "smalldatetime":
            return f"CAST(time_bucket(INTERVAL 1 MINUTE, CAST({expr} AS TIMESTAMP) + INTERVAL 30 SECOND) AS TIMESTAMP)"
        if n == "datetimeoffset":
            if st.scale is not None and st.scale < 6:
                return f"mssql_dto_round(mssql_dto({expr}), {10 ** (6 - st.scale)})"
            return f"mssql_dto({expr})"
        if n == "datetime2" and st.scale is not None and st.scale < 6:
            return f"mssql_round_ts(CAST({expr} AS TIMESTAMP), {10 ** (6 - st.scale)})"
        if n == "time" and st.scale is not None and st.scale < 6:
            return f"mssql_round_time(CAST({expr} AS TIME), {10 ** (6 - st.scale)})"
        if n == "bit":
            return f"mssql_bit({expr})"
        return f"CAST({expr} AS {st.duckdb})"

    def _insert(self, sql: str) -> Result:
        m = re.match(rf"\s*INSERT\s+(?:INTO\s+)?{_QNAME}\s*(\((?:[^()]|\([^()]*\))*\))?\s*(.*)$", sql, re.I | re.S)
        if not m:
            raise MssqlError(102, "Incorrect syntax near 'INSERT'.", 15)
        db, t = self._user_table(name_parts(m.group(1)), m.group(1))
        rest = m.group(3).strip()
        if m.group(2) and re.match(r"\(\s*(SELECT|WITH)\b", m.group(2), re.I):
            rest, target_cols = m.group(2) + " " + rest, None
        else:
            target_cols = [unbracket(c) for c in _split_args(m.group(2)[1:-1])] if m.group(2) else None
        if target_cols is None:
            target_cols = [c.name for c in t.columns if not c.identity and c.sql_type.name != "timestamp"]
        cols = []
        for name in target_cols:
            c = t.column(name)
            if c is None:
                raise MssqlError(207, f"Invalid column name '{name}'.")
            if c.identity:
                raise MssqlError(544, f"Cannot insert explicit value for identity column in table '{t.name}' when "
                                      "IDENTITY_INSERT is set to OFF.")
            if c.sql_type.name == "timestamp":
                raise MssqlError(273, "Cannot insert an explicit value into a timestamp column. Use INSERT with a "
                                      "column list to exclude the timestamp column, or insert a DEFAULT into the "
                                      "timestamp column.")
            cols.append(c)
        if re.match(r"DEFAULT\s+VALUES\s*$", rest, re.I):
            source, width = "SELECT 1 AS __d", 0
        elif re.match(r"VALUES\b", rest, re.I):
            tree = self.parse(f"SELECT * FROM ({rest}) AS __v")
            values = tree.find(exp.Values)
            width = len(values.expressions[0].expressions) if values.expressions else 0
            for row in values.expressions:
                if len(row.expressions) != len(cols):
                    if len(row.expressions) > len(cols):
                        raise MssqlError(110, "There are fewer columns in the INSERT statement than values specified "
                                              "in the VALUES clause. The number of values in the VALUES clause must "
                                              "match the number of columns specified in the INSERT statement.", 15)
                    raise MssqlError(109, "There are more columns in the INSERT statement than values specified in "
                                          "the VALUES clause. The number of values in the VALUES clause must match "
                                          "the number of columns specified in the INSERT statement.", 15)
            for row in values.expressions:
                for i, cell in enumerate(row.expressions):
                    if cols[i].sql_type.duckdb == "VARCHAR" and not isinstance(cell, exp.Null):
                        cell.replace(exp.Cast(this=cell.copy(), to=exp.DataType.build("TEXT")))
            values.set("alias", exp.TableAlias(this=exp.to_identifier("__v"),
                                               columns=[exp.to_identifier(f"c{i}") for i in range(width)]))
            source = self.translate(tree)
        else:
            tree = self.parse(rest)
            width = len(self.infer_types(tree)) or len(cols)
            source = f"SELECT * FROM ({self.translate(tree)}) AS __s"
            if width != len(cols):
                raise MssqlError(120 if width < len(cols) else 121, "The select list for the INSERT statement "
                                 f"contains {'fewer' if width < len(cols) else 'more'} items than the insert list. "
                                 "The number of SELECT values must match the number of INSERT columns.", 15)
        provided = {c.name: i for i, c in enumerate(cols)}
        exprs: list[str] = []
        checks: list[str] = []
        for c in t.columns:
            if c.name in provided:
                exprs.append(self._coerce(f"__src.{q(f'c{provided[c.name]}')}", c, t, db, checks))
            elif c.identity:
                exprs.append(f"nextval('{db}.{META}.ident_{t.object_id}')")
            elif c.sql_type.name == "timestamp":
                exprs.append(f"nextval('{db}.{META}.dbts')")
            elif c.default is not None:
                default = self.translate(self.parse(f"SELECT {c.default}")).removeprefix("SELECT ")
                exprs.append(self._coerce(default, c, t, db, checks))
            else:
                exprs.append("NULL")
        return self._write(db, t, exprs, source, len(cols) if width else 0, "insert", checks)

    def _raise_checks(self, staged: str) -> None:
        """The first error a staged row carries (see `_coerce`), raised before anything is written."""
        row = self.cursor.execute(f"SELECT __mssql_err FROM {staged} WHERE __mssql_err IS NOT NULL LIMIT 1").fetchall()
        if row:
            number, _, text = row[0][0].partition("|")
            raise MssqlError(int(number.removeprefix("MSSQL")), text, 16)

    def _write(self, db: str, t: TableInfo, exprs: list[str], source: str, width: int, kind: str,
               checks: list[str] | None = None) -> Result:
        fq = self._fq(db, t)
        self._check_snapshot([db])
        renamed = f"SELECT * FROM ({source}) AS __r({', '.join(q(f'c{i}') for i in range(width))})" if width else source
        err = f"COALESCE({', '.join(checks)})" if checks else "CAST(NULL AS VARCHAR)"
        staged = (f"SELECT {', '.join(f'{e} AS {q(c.name)}' for e, c in zip(exprs, t.columns))}, {err} AS __mssql_err "
                  f"FROM ({renamed}) AS __src")
        self._write_lock()
        with self.server.lock:
            try:
                self._stmt_begin()
                self.cursor.execute(f"CREATE OR REPLACE TEMP TABLE __mssql_staged AS {staged}")
                self._raise_checks("__mssql_staged")
                self._check_rows(db, t, "__mssql_staged", new_rows=True)
                self._advance_dbts(db, t, "__mssql_staged")
                count = self.cursor.execute("SELECT COUNT(*) FROM __mssql_staged").fetchone()[0]
                self.cursor.execute(f"INSERT INTO {fq} SELECT * EXCLUDE (__mssql_err) FROM __mssql_staged")
                if t.ct_enabled and count:
                    self._record_changes(db, t, "__mssql_staged", "I")
                self.server.touch(db, t.object_id, self.cursor)
                self.cursor.execute("DROP TABLE __mssql_staged")
                self._stmt_commit()
            except MssqlError:
                self._stmt_failed(checked=True)
                raise
            except Exception as exc:  # noqa: BLE001
                self._stmt_failed(checked=False)
                raise _map_error(exc, "", t) from None
        return Result(rowcount=int(count), command=CMD_INSERT, has_count=True)

    def _stmt_begin(self) -> None:
        if not self.trancount:
            self.cursor.execute("BEGIN TRANSACTION")

    def _stmt_commit(self) -> None:
        if not self.trancount:
            self.cursor.execute("COMMIT")

    def _stmt_failed(self, checked: bool) -> None:
        """A failed statement: alone it is rolled back. Inside a transaction an error the engine found
        before writing (keys, NULLs) leaves the transaction open, as SQL Server's statement rollback
        does; an error DuckDB raised aborts DuckDB's transaction, so the whole transaction is rolled
        back (as with XACT_ABORT ON)."""
        if not self.trancount:
            self._rollback()
        elif checked and not self.xact_abort:
            for name in ("__mssql_staged", "__mssql_keys", "__mssql_oldkeys"):
                try:
                    self.cursor.execute(f"DROP TABLE IF EXISTS {name}")
                except Exception:  # noqa: BLE001
                    self._doom()
                    return
        else:
            self._doom()

    def _rollback(self) -> None:
        try:
            self.cursor.execute("ROLLBACK")
        except Exception:  # noqa: BLE001
            pass

    def _advance_dbts(self, db: str, t: TableInfo, staged: str) -> None:
        rv = t.rowversion
        if rv is None:
            return
        low, top = self.cursor.execute(f"SELECT MIN({q(rv.name)}), MAX({q(rv.name)}) FROM {staged}").fetchone()
        if self.trancount and low is not None:
            _, held = self.server.active_rowversions.get(self.id, (db, low))
            self.server.active_rowversions[self.id] = (db, min(held, low))
        if top is not None and top > self._dbts_of(db):
            self.server.set_setting(db, "dbts_last", str(top), self.cursor)

    def _dbts_of(self, db: str) -> int:
        rows = self.cursor.execute(f"SELECT v FROM {q(db)}.{META}.settings WHERE k = 'dbts_last'").fetchall()
        return int(rows[0][0]) if rows else 2000

    def _check_rows(self, db: str, t: TableInfo, staged: str, new_rows: bool, exclude: str | None = None) -> None:
        for c in t.columns:
            if not c.nullable:
                bad = self.cursor.execute(f"SELECT COUNT(*) FROM {staged} WHERE {q(c.name)} IS NULL").fetchone()[0]
                if bad:
                    verb = "INSERT" if new_rows else "UPDATE"
                    raise MssqlError(515, f"Cannot insert the value NULL into column '{c.name}', table "
                                          f"'{db}.{t.schema}.{t.name}'; column does not allow nulls. {verb} fails.")
        if t.primary_key:
            def key(alias: str, k: str) -> str:
                # Keys compare under the column's collation, trailing blanks ignored.
                c = t.column(k)
                if c.sql_type.name not in T.CHAR_TYPES:
                    return f"{alias}{q(k)}"
                collation = duck_collation(c.collation)
                return f"rtrim({alias}{q(k)})" + (f" COLLATE {collation}" if collation else "")
            keys = ", ".join(key("", k) for k in t.primary_key)
            join = " AND ".join(f"{key('s.', k)} = {key('x.', k)}" for k in t.primary_key)
            other = f"(SELECT * FROM {self._fq(db, t)}" + (f" WHERE NOT ({exclude}))" if exclude else ")")
            dup = self.cursor.execute(
                f"SELECT {keys} FROM {staged} GROUP BY {keys} HAVING COUNT(*) > 1 LIMIT 1").fetchall()
            if not dup:
                dup = self.cursor.execute(
                    f"SELECT {', '.join(f's.{q(k)}' for k in t.primary_key)} FROM {staged} s "
                    f"JOIN {other} x ON {join} LIMIT 1").fetchall()
            if dup:
                shown = ", ".join("NULL" if v is None else str(v) for v in dup[0])
                raise MssqlError(2627, f"Violation of PRIMARY KEY constraint '{t.pk_name}'. Cannot insert duplicate "
                                       f"key in object '{t.schema}.{t.name}'. The duplicate key value is ({shown}).",
                                 14)

    def _record_changes(self, db: str, t: TableInfo, keys_source: str, op: str) -> None:
        # Every change of a transaction has the version that transaction commits as: the last
        # committed version + 1 (writers are serialised, so no other transaction takes it).
        version = int(self.server.setting(db, "ct_version", "0")) + 1
        self.server.set_setting(db, "ct_version", str(version), self.cursor)
        ct = f"{q(db)}.{META}.{q(f'ct_{t.object_id}')}"
        keys = ", ".join(q(k) for k in t.primary_key)
        join = " AND ".join(f"ct.{q(k)} = s.{q(k)}" for k in t.primary_key)
        creation = (f"CASE WHEN (SELECT op FROM {ct} ct WHERE {join}) IS NULL OR (SELECT op FROM {ct} ct WHERE {join})"
                    f" = 'D' THEN {version} ELSE (SELECT creation_version FROM {ct} ct WHERE {join}) END"
                    if op == "I" else f"COALESCE((SELECT creation_version FROM {ct} ct WHERE {join}), 0)")
        self.cursor.execute(f"CREATE OR REPLACE TEMP TABLE __mssql_ct AS SELECT DISTINCT {keys}, {version} AS version, "
                            f"{creation} AS creation_version, '{op}' AS op FROM {keys_source} s")
        self.cursor.execute(f"DELETE FROM {ct} WHERE ({keys}) IN (SELECT ({keys}) FROM __mssql_ct)" if len(
            t.primary_key) > 1 else f"DELETE FROM {ct} WHERE {keys} IN (SELECT {keys} FROM __mssql_ct)")
        self.cursor.execute(f"INSERT INTO {ct} ({keys}, version, creation_version, op) SELECT {keys}, version, "
                            "creation_version, op FROM __mssql_ct")
        self.cursor.execute("DROP TABLE __mssql_ct")

    def _update_delete(self, sql: str, verb: str) -> Result:
        tree = self.parse(sql)
        target = tree.this
        parts = [p for p in (target.catalog, target.db, target.name) if p]
        db, t = self._user_table(parts, ".".join(parts))
        fq = self._fq(db, t)
        self._check_snapshot([db])
        where = tree.args.get("where")
        condition = "TRUE"
        if where is not None:
            condition = self._rewrite_tree(where.this).sql(dialect="duckdb")
        self._write_lock()
        with self.server.lock:
            try:
                self._stmt_begin()
                if verb == "DELETE":
                    if t.ct_enabled:
                        keys = ", ".join(q(k) for k in t.primary_key)
                        self.cursor.execute(f"CREATE OR REPLACE TEMP TABLE __mssql_keys AS SELECT {keys} FROM {fq} "
                                            f"WHERE {condition}")
                    count = self.cursor.execute(f"DELETE FROM {fq} WHERE {condition}").fetchone()[0]
                    if t.ct_enabled and count:
                        self._record_changes(db, t, "__mssql_keys", "D")
                    command = CMD_DELETE
                else:
                    sets = {}
                    checks: list[str] = []
                    for assignment in tree.expressions:
                        col = t.column(assignment.this.name)
                        if col is None:
                            raise MssqlError(207, f"Invalid column name '{assignment.this.name}'.")
                        if col.identity:
                            raise MssqlError(8102, f"Cannot update identity column '{col.name}'.")
                        if col.sql_type.name == "timestamp":
                            raise MssqlError(272, "Cannot update a timestamp column.")
                        value = self._rewrite_tree(assignment.expression).sql(dialect="duckdb")
                        sets[col.name] = self._coerce(value, col, t, db, checks)
                    rv = t.rowversion
                    if rv is not None:
                        sets[rv.name] = f"nextval('{db}.{META}.dbts')"
                    projection = ", ".join(sets.get(c.name, q(c.name)) + f" AS {q(c.name)}" for c in t.columns) + (
                        f", COALESCE({', '.join(checks)}) AS __mssql_err" if checks
                        else ", CAST(NULL AS VARCHAR) AS __mssql_err")
                    keys = ", ".join(q(k) for k in t.primary_key)
                    key_change = t.ct_enabled and any(k.lower() in {n.lower() for n in sets} for k in t.primary_key)
                    if key_change:
                        self.cursor.execute(f"CREATE OR REPLACE TEMP TABLE __mssql_oldkeys AS SELECT {keys} FROM {fq} "
                                            f"WHERE {condition}")
                    self.cursor.execute(f"CREATE OR REPLACE TEMP TABLE __mssql_staged AS SELECT {projection} FROM {fq} "
                                        f"WHERE {condition}")
                    self._raise_checks("__mssql_staged")
                    self._check_rows(db, t, "__mssql_staged", new_rows=False, exclude=condition)
                    self._advance_dbts(db, t, "__mssql_staged")
                    count = self.cursor.execute("SELECT COUNT(*) FROM __mssql_staged").fetchone()[0]
                    if count:
                        self.cursor.execute(f"DELETE FROM {fq} WHERE {condition}")
                        self.cursor.execute(f"INSERT INTO {fq} SELECT * EXCLUDE (__mssql_err) FROM __mssql_staged")
                        if key_change:
                            # A new key value is a delete of the old row and an insert of the new one.
                            for op, source in (
                                    ("D", f"(SELECT {keys} FROM __mssql_oldkeys EXCEPT SELECT {keys} FROM __mssql_staged)"),
                                    ("I", f"(SELECT {keys} FROM __mssql_staged EXCEPT SELECT {keys} FROM __mssql_oldkeys)"),
                                    ("U", f"(SELECT {keys} FROM __mssql_staged INTERSECT SELECT {keys} FROM "
                                          "__mssql_oldkeys)")):
                                self._record_changes(db, t, source, op)
                            self.cursor.execute("DROP TABLE __mssql_oldkeys")
                        elif t.ct_enabled:
                            self._record_changes(db, t, "__mssql_staged", "U")
                    self.cursor.execute("DROP TABLE __mssql_staged")
                    command = CMD_UPDATE
                if count:
                    self.server.touch(db, t.object_id, self.cursor)
                self._stmt_commit()
            except MssqlError:
                self._stmt_failed(checked=True)
                raise
            except Exception as exc:  # noqa: BLE001
                self._stmt_failed(checked=False)
                raise _map_error(exc, sql, t) from None
        return Result(rowcount=int(count), command=command, has_count=True)


# --- helpers -----------------------------------------------------------------------------------
def _split_args(text: str) -> list[str]:
    out, depth, buf, quote = [], 0, "", None
    for ch in text:
        if quote:
            buf += ch
            if ch == quote:
                quote = None
            continue
        if ch == "'":
            quote = "'"
        elif ch == "[":
            quote = "]"
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(buf.strip())
            buf = ""
            continue
        buf += ch
    if buf.strip():
        out.append(buf.strip())
    return out


def _literal_value(text: str):
    text = text.strip()
    m = re.fullmatch(r"N?'((?:[^']|'')*)'", text, re.S)
    if m:
        return m.group(1).replace("''", "'")
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if text.upper() == "NULL":
        return None
    return text


def duck_collation(name: str | None) -> str | None:
    """DuckDB's collation for a SQL Server collation name (None: the default, case-insensitive)."""
    if name is None:
        return None
    upper = name.upper()
    if upper.endswith("_BIN") or upper.endswith("_BIN2") or "_CS_AS" in upper:
        return "c"
    if "_CI_AS" in upper and "_UTF8" not in upper and "_SC" not in upper:
        return "nocase"
    if "_CI_AI" in upper and "_UTF8" not in upper and "_SC" not in upper:
        return "nocase.noaccent"
    raise unsupported(f"the collation {name}")


def _sql_type(datatype: exp.DataType) -> T.SqlType | None:
    text = datatype.sql(dialect="tsql")
    text = re.sub(r"\bVARCHAR\(MAX\)", "VARCHAR(MAX)", text, flags=re.I)
    try:
        return T.parse(text)
    except T.TypeError_:
        return None


_DUCK_TYPES = [("BOOLEAN", "bit"), ("UTINYINT", "tinyint"), ("TINYINT", "smallint"), ("SMALLINT", "smallint"),
               ("INTEGER", "int"), ("BIGINT", "bigint"), ("HUGEINT", "bigint"), ("FLOAT", "real"),
               ("DOUBLE", "float"), ("DATE", "date"), ("TIMESTAMP_NS", "datetime2(7)"), ("TIMESTAMP", "datetime2(7)"),
               ("TIME", "time(7)"), ("UUID", "uniqueidentifier"), ("BLOB", "varbinary(max)"),
               ("UINTEGER", "bigint"), ("USMALLINT", "int")]


def _from_duck(type_name: str) -> T.SqlType:
    upper = type_name.upper()
    m = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", upper)
    if m:
        return T.SqlType("decimal", precision=int(m.group(1)), scale=int(m.group(2)))
    if upper.startswith("STRUCT(UTC"):
        return T.SqlType("datetimeoffset", scale=7)
    for prefix, decl in _DUCK_TYPES:
        if upper == prefix or upper.startswith(prefix + " ") or (prefix == "TIMESTAMP" and upper.startswith("TIMESTAMP")):
            return T.parse(decl)
    return T.SqlType("nvarchar", T.MAX)


def _timestamps(arr: pa.Array) -> list:
    """Timestamps as epoch nanoseconds (exact to 100 ns) or None."""
    unit = arr.type.unit
    factor = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1000, "ns": 1}[unit]
    ints = arr.cast(pa.int64()).to_pylist()
    return [None if v is None else v * factor for v in ints]


def _near(sql: str, exc: Exception) -> str:
    text = str(exc)
    m = re.search(r"Col: (\d+)", text)
    if m:
        col = int(m.group(1))
        word = re.findall(r"[\w\]\[']+", sql[max(0, col - 20):col + 1])
        if word:
            return word[-1][:40]
    return sql.split()[0] if sql.split() else sql


def _map_error(exc: Exception, sql: str, table: TableInfo | None = None) -> MssqlError:
    text = str(exc)
    m = re.search(r"MSSQL(\d+)\|(.*)", text, re.S)
    if m:
        return MssqlError(int(m.group(1)), m.group(2).strip().splitlines()[0], 16)
    m = re.search(r"Could not convert string '(.*?)' to (U?INT\d+)", text)
    if m:
        target = {"INT32": "int", "INT64": "bigint", "INT16": "smallint", "UINT8": "tinyint"}.get(m.group(2), "int")
        return MssqlError(245, f"Conversion failed when converting the varchar value '{m.group(1)}' to data type "
                               f"{target}.", 16)
    m = re.search(r"Scalar Function with name (\w+) does not exist", text)
    if m:
        return unsupported(f"the function {m.group(1).upper()}")
    if "Conversion Error" in text or "Could not convert" in text or "Could not cast" in text:
        if "DECIMAL" in text.upper() or "overflow" in text.lower():
            return MssqlError(8115, "Arithmetic overflow error converting numeric to data type numeric.")
        return MssqlError(245, f"Conversion failed: {text.splitlines()[0]}")
    if "Out of Range" in text or "out of range" in text:
        return MssqlError(8115, "Arithmetic overflow error converting expression to data type int.")
    if "Binder Error" in text and "not found" in text:
        col = re.search(r'column "?([^"\s]+)"? not found|Referenced column "([^"]+)" not found', text)
        name = (col.group(1) or col.group(2)) if col else "?"
        return MssqlError(207, f"Invalid column name '{name}'.")
    if "Parser Error" in text:
        return MssqlError(102, f"Incorrect syntax near '{sql.split()[0] if sql.split() else ''}'.", 15)
    return MssqlError(50000, f"{text.splitlines()[0] if text else type(exc).__name__}")


MACROS = [
    # Length in UTF-16 code units: a character outside the BMP is a surrogate pair.
    "CREATE OR REPLACE MACRO mssql_len16(s) AS length(s) + length(regexp_replace(s, '[^\\x{10000}-\\x{10FFFF}]', '', "
    "'g'))",
    # datetime2(n) / time(n) / datetimeoffset(n) round to their declared precision (d = 10^(6-n) us).
    "CREATE OR REPLACE MACRO mssql_round_ts(ts, d) AS CASE WHEN ts IS NULL THEN NULL ELSE "
    "make_timestamp(CAST(floor(epoch_us(ts) / CAST(d AS DOUBLE) + 0.5) AS BIGINT) * d) END",
    "CREATE OR REPLACE MACRO mssql_round_time(t, d) AS CASE WHEN t IS NULL THEN NULL ELSE "
    "CAST(mssql_round_ts(DATE '2000-01-01' + t, d) AS TIME) END",
    "CREATE OR REPLACE MACRO mssql_dto_round(v, d) AS CASE WHEN v IS NULL THEN NULL ELSE "
    "{'utc': mssql_round_ts(v.utc, d), 'offset': v.offset} END",
    # datetime keeps 1/300 s: round the time of day to the nearest tick as SQL Server does.
    "CREATE OR REPLACE MACRO mssql_datetime(ts) AS CASE WHEN ts IS NULL THEN NULL ELSE "
    "CAST(date_trunc('day', ts) AS TIMESTAMP) + to_microseconds(CAST(round(round((epoch_us(ts) - "
    "epoch_us(date_trunc('day', ts))) / 1000000.0 * 300) / 300.0 * 1000000) AS BIGINT)) END",
    "CREATE OR REPLACE MACRO mssql_bit(v) AS CASE WHEN v IS NULL THEN NULL WHEN lower(CAST(v AS VARCHAR)) IN "
    "('true', '1') THEN true WHEN lower(CAST(v AS VARCHAR)) IN ('false', '0') THEN false ELSE CAST(v AS DOUBLE) <> 0 END",
    "CREATE OR REPLACE MACRO mssql_pad_binary(v, n) AS CASE WHEN v IS NULL THEN NULL ELSE v || "
    "CAST(repeat(chr(0), n - octet_length(v)) AS BLOB) END",
    # datetimeoffset from text 'yyyy-mm-dd hh:mm:ss[.fffffff] [+|-]hh:mm' (or an existing struct).
    "CREATE OR REPLACE MACRO mssql_dto(v) AS CASE WHEN v IS NULL THEN NULL ELSE {'utc': "
    "CAST(regexp_extract(CAST(v AS VARCHAR), '^(.*?)\\s*([+-]\\d{1,2}:\\d{2}|Z)?$', 1) AS TIMESTAMP) - "
    "to_minutes(mssql_offset(CAST(v AS VARCHAR))), 'offset': CAST(mssql_offset(CAST(v AS VARCHAR)) AS SMALLINT)} END",
    "CREATE OR REPLACE MACRO mssql_offset(s) AS CASE WHEN regexp_extract(s, '([+-])(\\d{1,2}):(\\d{2})$', 1) = '' "
    "THEN 0 ELSE (CASE WHEN regexp_extract(s, '([+-])(\\d{1,2}):(\\d{2})$', 1) = '-' THEN -1 ELSE 1 END) * "
    "(CAST(regexp_extract(s, '([+-])(\\d{1,2}):(\\d{2})$', 2) AS INTEGER) * 60 + "
    "CAST(regexp_extract(s, '([+-])(\\d{1,2}):(\\d{2})$', 3) AS INTEGER)) END",
    "CREATE OR REPLACE MACRO mssql_frac(ns, scale) AS CASE WHEN scale = 0 THEN '' ELSE '.' || "
    "left(lpad(CAST(ns AS VARCHAR), 9, '0'), scale) END",
    "CREATE OR REPLACE MACRO mssql_time_text(t, scale) AS CASE WHEN t IS NULL THEN NULL ELSE strftime(DATE '2000-01-01' "
    "+ t, '%H:%M:%S') || mssql_frac(CAST((epoch_us(DATE '2000-01-01' + t) % 1000000) * 1000 AS BIGINT), scale) END",
    "CREATE OR REPLACE MACRO mssql_dt2_text(ts, scale) AS CASE WHEN ts IS NULL THEN NULL ELSE strftime(CAST(ts AS "
    "TIMESTAMP), '%Y-%m-%d %H:%M:%S') || mssql_frac(((epoch_us(ts) % 1000000 + 1000000) % 1000000) * 1000, scale) END",
    "CREATE OR REPLACE MACRO mssql_datetime_text(ts) AS CASE WHEN ts IS NULL THEN NULL ELSE strftime(ts, "
    "'%Y-%m-%d %H:%M:%S') || '.' || lpad(CAST(CAST(round((epoch_us(ts) % 1000000 + 1000000) % 1000000 / 1000.0) "
    "AS INTEGER) AS VARCHAR), 3, '0') END",
    "CREATE OR REPLACE MACRO mssql_dto_text(v, scale) AS CASE WHEN v IS NULL THEN NULL ELSE "
    "mssql_dt2_text(v.utc + to_minutes(v.offset), scale) || ' ' || (CASE WHEN v.offset < 0 THEN '-' ELSE '+' END) || "
    "lpad(CAST(abs(v.offset) // 60 AS VARCHAR), 2, '0') || ':' || lpad(CAST(abs(v.offset) % 60 AS VARCHAR), 2, '0') END",
]


def install_macros(server: Server) -> None:
    # T-SQL's `/` is integer division between integers; DuckDB's is not unless told so.
    server.duck.execute("SET GLOBAL integer_division = true")
    # The default collation SQL_Latin1_General_CP1_CI_AS: case-insensitive, accent-sensitive. Columns
    # declared with a _CS_/_BIN collation compare binary (DuckDB's `c`); trailing blanks are ignored
    # by the comparisons the engine rewrites (= and <>, keys).
    server.duck.execute("SET GLOBAL default_collation = 'nocase'")
    for macro in MACROS:
        server.duck.execute(macro)
