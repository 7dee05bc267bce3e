"""The FE query port: StarRocks SQL over the MySQL protocol (mysql-mimic), executed on DuckDB.

Statements StarRocks has and MySQL does not (DUPLICATE/PRIMARY KEY tables, DISTRIBUTED BY,
PROPERTIES, SWAP WITH, INSERT OVERWRITE) are handled here; SELECT, DELETE and UPDATE are
translated with sqlglot's starrocks -> duckdb; information_schema reads the StarRocks
definitions. Connection chatter (SET, @@variables, SHOW VARIABLES) is mysql-mimic's.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import decimal
import re
import uuid
from typing import Any

import duckdb
import sqlglot
from mysql_mimic import connection as mm_connection
from mysql_mimic import packets as mm_packets
from mysql_mimic import ColumnType, MysqlServer, NativePasswordAuthPlugin, ResultColumn, Session, User
from mysql_mimic.auth import IdentityProvider
from mysql_mimic.charset import CharacterSet
from mysql_mimic.constants import DEFAULT_SERVER_CAPABILITIES
from mysql_mimic.types import Capabilities
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.variables import GlobalVariables, SessionVariables
from sqlglot import exp

from mssql_starrocks_devservers.starrocks import loading
from mssql_starrocks_devservers.starrocks.catalogs import DEFAULT_CATALOG, INTERNAL_COMMENT, Catalogs, unknown_catalog
from mssql_starrocks_devservers.starrocks.catalogs import not_supported as unsupported
from mssql_starrocks_devservers.starrocks.engine import INFO, Column, Engine, SrError, TableDef
from mssql_starrocks_devservers.starrocks.privileges import Accounts, access_denied, account_statement
from mssql_starrocks_devservers.starrocks.types import parse_type

RELEASE = "3.3.9"
COMMIT = "d2a4ad1"
VERSION_COMMENT = f"StarRocks version {RELEASE}-{COMMIT}"
MYSQL_VERSION = "5.1.0"

NAME = r"(?:`(?:[^`]|``)+`|[A-Za-z0-9_$\-]+)"
QNAME = rf"({NAME})(?:\s*\.\s*({NAME}))?"
# [catalog.][db.]table: three groups, the first always set.
QNAME3 = rf"({NAME})(?:\s*\.\s*({NAME}))?(?:\s*\.\s*({NAME}))?"
# Time travel on Iceberg tables: StarRocks 3.4.0+ ("Feature Support: Data Lake Analytics"); 3.3's parser has none.
_STRING_LITERAL = re.compile(r"'(?:\\.|''|[^'\\])*'|\"(?:\\.|\"\"|[^\"\\])*\"", re.S)
TIME_TRAVEL = re.compile(r"\bFOR\s+(?:VERSION|TIMESTAMP|SYSTEM_TIME|SYSTEM_VERSION)\s+AS\s+OF\b", re.I)


def unq(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.strip()
    if name.startswith("`") and name.endswith("`"):
        return name[1:-1].replace("``", "`")
    return name


def strip_comments(sql: str) -> str:
    out, i, quote = [], 0, None
    while i < len(sql):
        ch = sql[i]
        if quote:
            out.append(ch)
            if ch == "\\" and quote != "`" and i + 1 < len(sql):
                out.append(sql[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "'\"`":
            quote = ch
            out.append(ch)
            i += 1
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = len(sql) if end < 0 else end + 2
        elif sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            i = len(sql) if end < 0 else end
        else:
            out.append(ch)
            i += 1
    return "".join(out).strip().rstrip(";").strip()


def split_top(text: str, sep: str = ",") -> list[str]:
    parts, depth, buf, quote = [], 0, "", None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            buf += ch
            if ch == "\\" and quote != "`" and i + 1 < len(text):
                buf += text[i + 1]
                i += 2
                continue
            if ch == quote:
                quote = None
            i += 1
            continue
        if ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(buf.strip())
            buf = ""
            i += 1
            continue
        buf += ch
        i += 1
    if buf.strip():
        parts.append(buf.strip())
    return parts


def _matching_paren(text: str, start: int) -> int:
    depth, quote, i = 0, None, start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\" and quote != "`":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise SrError("Getting syntax error. Detail message: unbalanced parentheses")


_COLDEF = re.compile(rf"^\s*({NAME})\s+([A-Za-z0-9_]+(?:\s*\([^)]*\))?)(.*)$", re.S | re.I)


def parse_column(text: str) -> Column:
    m = _COLDEF.match(text)
    if not m:
        raise SrError(f"Getting syntax error. Detail message: invalid column definition: {text[:200]}")
    name, type_text, rest = unq(m.group(1)), re.sub(r"\s+", "", m.group(2)), m.group(3)
    try:
        parse_type(type_text)
    except ValueError as exc:
        raise SrError(f"Getting syntax error. Detail message: {exc}") from None
    nullable = not re.search(r"\bNOT\s+NULL\b", rest, re.I)
    comment = ""
    cm = re.search(r"\bCOMMENT\s+(['\"])((?:\\.|(?!\1).)*)\1", rest, re.I | re.S)
    if cm:
        comment = cm.group(2).replace("\\'", "'").replace('\\"', '"').replace("\\\\", "\\")
    default = None
    dm = re.search(r"\bDEFAULT\s+('(?:\\.|[^'])*'|\"(?:\\.|[^\"])*\"|[^\s,]+)", rest, re.I)
    if dm:
        default = dm.group(1)
    return Column(name=name, type=type_text, nullable=nullable, comment=comment, default=default)


def _names(text: str) -> list[str]:
    return [unq(n) for n in split_top(text)]


def parse_create_table(sql: str, current_db: str | None) -> tuple[TableDef, bool, str | None]:
    """(definition, IF NOT EXISTS, LIKE source) from a StarRocks CREATE TABLE."""
    m = re.match(rf"CREATE\s+(?:EXTERNAL\s+)?TABLE\s+(IF\s+NOT\s+EXISTS\s+)?{QNAME}\s*", sql, re.I | re.S)
    if not m:
        raise SrError("Getting syntax error. Detail message: invalid CREATE TABLE")
    if_not_exists = bool(m.group(1))
    db, name = (unq(m.group(2)), unq(m.group(3))) if m.group(3) else (current_db, unq(m.group(2)))
    rest = sql[m.end():]
    like = re.match(rf"LIKE\s+{QNAME}\s*$", rest, re.I)
    if like:
        src_db, src = (unq(like.group(1)), unq(like.group(2))) if like.group(2) else (db, unq(like.group(1)))
        return TableDef(db, name, []), if_not_exists, f"{src_db}.{src}"
    after_columns = rest[_matching_paren(rest, 0) + 1:] if rest.startswith("(") else rest
    if re.search(r"\bAS\s*(SELECT|WITH|\()", after_columns, re.I):  # CREATE TABLE ... AS SELECT
        raise SrError(not_supported("CREATE TABLE ... AS SELECT"), NOT_SUPPORTED_CODE)
    if not rest.startswith("("):
        raise SrError("Getting syntax error. Detail message: expected column definitions")
    end = _matching_paren(rest, 0)
    body, tail = rest[1:end], rest[end + 1:]
    columns = []
    for item in split_top(body):
        if re.match(r"^(INDEX|KEY|PRIMARY\s+KEY|UNIQUE|CONSTRAINT)\b", item, re.I):
            continue
        columns.append(parse_column(item))
    t = TableDef(db, name, columns)
    km = re.search(r"\b(DUPLICATE|PRIMARY|UNIQUE|AGGREGATE)\s+KEY\s*\(([^)]*)\)", tail, re.I)
    if km:
        t.keys_type = km.group(1).upper()
        if t.keys_type == "AGGREGATE":  # loads would have to aggregate by key (SUM, REPLACE, ...)
            raise SrError(not_supported("CREATE TABLE ... AGGREGATE KEY"), NOT_SUPPORTED_CODE)
        t.key_columns = _names(km.group(2))
    cm = re.search(r"\bCOMMENT\s+(['\"])((?:\\.|(?!\1).)*)\1", tail, re.I | re.S)
    if cm:
        t.comment = cm.group(2).replace("\\'", "'").replace("\\\\", "\\")
    if re.search(r"\bPARTITION\s+BY\b", tail, re.I):
        t.properties["partitioned"] = "true"
        pm = re.search(r"\bPARTITION\s+BY\s+(?:RANGE|LIST)\s*\(([^)]*)\)", tail, re.I)
        partition_columns = _names(pm.group(1)) if pm else []
    else:
        partition_columns = []
    dm = re.search(r"\bDISTRIBUTED\s+BY\s+(HASH\s*\(([^)]*)\)|RANDOM)(?:\s+BUCKETS\s+(\d+))?", tail, re.I)
    if dm:
        if dm.group(1).upper().startswith("HASH"):
            t.distribution, t.distribution_columns = "HASH", _names(dm.group(2))
        if dm.group(3):
            t.buckets = int(dm.group(3))
    elif t.keys_type in ("PRIMARY", "UNIQUE", "AGGREGATE"):
        raise SrError("Getting analyzing error. Detail message: Currently not support default distribution in "
                      f"{t.keys_type} KEY table.", 5502)
    if t.keys_type in ("PRIMARY", "UNIQUE"):
        # Primary Key table page: the partition and bucketing columns must be in the primary key
        # (Unique Key tables: the bucketing columns must be key columns).
        keys = {k.lower() for k in t.key_columns}
        extra = [c for c in t.distribution_columns + (partition_columns if t.keys_type == "PRIMARY" else [])
                 if c.lower() not in keys]
        if extra:
            raise SrError(f"Getting analyzing error. Detail message: Distribution/partition column[{extra[0]}] is not "
                          "key column.", 1064)
    om = re.search(r"\bORDER\s+BY\s*\(([^)]*)\)", tail, re.I)
    if om:
        t.order_by = _names(om.group(1))
    pm = re.search(r"\bPROPERTIES\s*\((.*)\)\s*$", tail, re.I | re.S)
    if pm:
        for k, v in re.findall(r"['\"]([^'\"]+)['\"]\s*=\s*['\"]([^'\"]*)['\"]", pm.group(1)):
            t.properties[k] = v
    return t, if_not_exists, None


# --- SQL literal rows (INSERT ... VALUES) ---------------------------------------------------
_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:\\.|''|[^'\\])*'|"(?:\\.|""|[^"\\])*")
  | (?P<hex>[xX]'[0-9a-fA-F]*'|0x[0-9a-fA-F]+)
  | (?P<num>[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),])
)""", re.X | re.S)
_ESCAPES = {"0": "\0", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "Z": "\x1a", "\\": "\\", "'": "'", '"': '"'}


def _unescape(body: str, quote: str) -> str:
    body = body.replace(quote * 2, quote)
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), body, flags=re.S)


def parse_values(text: str) -> list[list[Any]]:
    """Rows of literals from `(..), (..)`; values stay text as a loaded file's would (exact decimals)."""
    rows, row, pos, depth = [], None, 0, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise SrError(f"Getting syntax error. Detail message: unexpected input near '{text[pos:pos + 40]}'")
        pos = m.end()
        if m.group("punct") == "(":
            depth += 1
            row = []
        elif m.group("punct") == ")":
            depth -= 1
            rows.append(row)
            row = None
        elif m.group("punct") == ",":
            continue
        elif m.group("str") is not None:
            s = m.group("str")
            row.append(_unescape(s[1:-1], s[0]))
        elif m.group("hex") is not None:
            h = m.group("hex")
            row.append(bytes.fromhex(h[2:-1] if h[0] in "xX" and h[1] == "'" else h[2:]))
        elif m.group("num") is not None:
            row.append(m.group("num"))
        elif m.group("word") is not None:
            w = m.group("word").upper()
            row.append(None if w == "NULL" else ("1" if w == "TRUE" else "0" if w == "FALSE" else m.group("word")))
    return rows


# --- result sets ----------------------------------------------------------------------------
def _column_type(type_name: str) -> tuple[ColumnType, CharacterSet]:
    t = type_name.upper()
    table = [("BOOLEAN", ColumnType.TINY), ("TINYINT", ColumnType.TINY), ("SMALLINT", ColumnType.SHORT),
             ("INTEGER", ColumnType.LONG), ("BIGINT", ColumnType.LONGLONG), ("HUGEINT", ColumnType.VAR_STRING),
             ("FLOAT", ColumnType.FLOAT), ("DOUBLE", ColumnType.DOUBLE), ("DECIMAL", ColumnType.NEWDECIMAL),
             ("DATE", ColumnType.DATE), ("TIMESTAMP", ColumnType.DATETIME), ("BLOB", ColumnType.BLOB)]
    for prefix, ct in table:
        if t.startswith(prefix):
            return ct, (CharacterSet.binary if ct == ColumnType.BLOB else CharacterSet.utf8mb4)
    return ColumnType.VAR_STRING, CharacterSet.utf8mb4


def _text_value(col: ResultColumn, value: Any) -> bytes:
    if isinstance(value, bool):
        return b"1" if value else b"0"
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "")
        return text.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f").encode()
    return str(value).encode("utf-8")


class _ColumnName(str):
    """A column name that also carries the column definition's length and decimals.

    mysql-mimic builds each column definition from ``name``/``type``/``character_set`` only and
    sends length 256 and 0 decimals, so Connector/J would read DECIMAL(10,2) as scale 0. The
    name travels into ``make_column_definition_41``; the wrapper below reads these attributes
    from it, as StarRocks' FE fills them from the column's declared type.
    """

    length: int = 256
    decimals: int = 0


_DISPLAY_LENGTH = {ColumnType.TINY: 4, ColumnType.SHORT: 6, ColumnType.LONG: 11, ColumnType.LONGLONG: 20,
                   ColumnType.FLOAT: 12, ColumnType.DOUBLE: 22, ColumnType.DATE: 10, ColumnType.DATETIME: 26}


def _column_name(name: str, type_name: str, ct: ColumnType) -> _ColumnName:
    col = _ColumnName(name)
    m = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", type_name.upper())
    if m:
        precision, scale = int(m.group(1)), int(m.group(2))
        col.decimals = scale
        col.length = precision + 1 + (1 if scale else 0)  # sign and point, as MySQL reports it
    elif ct in _DISPLAY_LENGTH:
        col.length = _DISPLAY_LENGTH[ct]
        col.decimals = 31 if ct in (ColumnType.FLOAT, ColumnType.DOUBLE) else 0
        if ct == ColumnType.DATETIME:
            col.decimals = 6
    elif ct == ColumnType.VAR_STRING:
        col.length = 1048576 * 4
        col.decimals = 31
    return col


_make_column_definition_41 = mm_packets.make_column_definition_41


def _column_definition(*args, **kwargs):
    name = kwargs.get("name")
    if isinstance(name, _ColumnName):
        kwargs.setdefault("column_length", name.length)
        kwargs.setdefault("decimals", name.decimals)
    return _make_column_definition_41(*args, **kwargs)


mm_packets.make_column_definition_41 = _column_definition


class Affected:
    """No result set, but a row count for the OK packet ("Query OK, 2 rows affected"), as StarRocks
    answers an INSERT; JDBC's executeUpdate returns it. mysql-mimic always sends 0, so the session
    passes the count (through a context variable of the query's task) to the connection's next OK."""

    def __init__(self, rows: int):
        self.rows = rows


_AFFECTED: contextvars.ContextVar[int | None] = contextvars.ContextVar("affected_rows", default=None)
_mm_query = mm_connection.Connection.query
_mm_ok = mm_connection.Connection.ok


async def _query(self, *args, **kwargs):
    _AFFECTED.set(None)
    result = await _mm_query(self, *args, **kwargs)
    self._affected_rows = _AFFECTED.get()
    return result


def _ok(self, **kwargs):
    pending = getattr(self, "_affected_rows", None)
    if pending is not None and "affected_rows" not in kwargs:
        self._affected_rows = None
        kwargs["affected_rows"] = pending
    return _mm_ok(self, **kwargs)


mm_connection.Connection.query = _query
mm_connection.Connection.ok = _ok


def result_set(description, rows) -> tuple[list, list[ResultColumn]]:
    columns = []
    for d in description:
        type_name = str(d[1])
        ct, cs = _column_type(type_name)
        columns.append(ResultColumn(_column_name(d[0], type_name, ct), ct, character_set=cs,
                                    text_encoder=_text_value))
    return [list(r) for r in rows], columns


_DELETE_OPS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In)


def _check_dml(tree: exp.Expression, table: TableDef, verb: str) -> None:
    """The rules of the DELETE and UPDATE pages: a DELETE needs its WHERE; outside Primary Key
    tables its conditions are `column op value | value_list` joined by AND (Unique Key tables:
    key columns only), no subqueries; an UPDATE cannot change a primary key column."""
    keys = {k.lower() for k in table.key_columns}
    if verb == "UPDATE":
        for assignment in tree.expressions:
            target = assignment.this
            if isinstance(target, exp.Column) and target.name.lower() in keys:
                raise SrError("Getting analyzing error. Detail message: primary key column cannot be updated: "
                              f"{target.name}.", 1064)
        return
    where = tree.args.get("where")
    if where is None:
        raise SrError("Getting analyzing error. Detail message: Delete must specify where clause to prevent full "
                      "table deletion.", 1064)
    if table.keys_type == "PRIMARY":
        return
    pending = [where.this]
    while pending:
        node = pending.pop()
        if isinstance(node, exp.Paren):
            pending.append(node.this)
            continue
        if isinstance(node, exp.And):
            pending += [node.left, node.right]
            continue
        inner = node.this if isinstance(node, exp.Not) and isinstance(node.this, exp.In) else node
        ok = isinstance(inner, _DELETE_OPS) and isinstance(inner.this, exp.Column) and not inner.find(exp.Select)
        if ok and not isinstance(inner, exp.In):
            ok = isinstance(inner.expression, (exp.Literal, exp.Neg, exp.Boolean, exp.Null))
        if not ok:
            raise SrError("Getting analyzing error. Detail message: Where clause only supports compound predicate, "
                          "binary predicate, is_null predicate and in predicate (column op value, joined by AND): "
                          f"{node.sql(dialect='starrocks')[:100]}", 1064)
        if table.keys_type != "DUPLICATE" and inner.this.name.lower() not in keys:
            raise SrError(f"Getting analyzing error. Detail message: Column[{inner.this.name}] is not key column "
                          f"or storage model is not duplicate or column type is float or double.", 1064)


def _show_tables(db: str, names: list[str], full: bool, like: str | None):
    """SHOW [FULL] TABLES' result: FULL adds the table type, as MySQL and StarRocks answer it."""
    pattern = _like(like)
    names = [n for n in names if pattern.match(n)]
    if full:
        return [[n, "BASE TABLE"] for n in names], [f"Tables_in_{db}", "Table_type"]
    return [[n] for n in names], [f"Tables_in_{db}"]


def _check_readable(tree: exp.Expression, unreadable: dict[str, str]) -> None:
    """A statement reading an Iceberg column the stand-in cannot read (ARRAY/MAP/STRUCT, TIME, FIXED) fails
    loudly, also through `*` (the registered snapshot leaves those columns out)."""
    for star in tree.find_all(exp.Star):
        if not isinstance(star.parent, exp.Count):
            raise unsupported(f"SELECT * of an Iceberg table with {next(iter(unreadable.values()))}")
    for column in tree.find_all(exp.Column):
        if column.name.lower() in unreadable:
            raise unsupported(f"reading {unreadable[column.name.lower()]}")


@contextlib.contextmanager
def _analysis_errors():
    """DuckDB's binder errors as StarRocks' analyzer reports them (unknown column: 1054)."""
    try:
        yield
    except duckdb.BinderException as exc:
        m = re.search(r'column "?([^"\s]+)"? not found', str(exc), re.I)
        if m:
            raise SrError(f"Getting analyzing error. Detail message: Column '{m.group(1)}' cannot be resolved.",
                          1054) from None
        raise SrError(f"Getting analyzing error. Detail message: {str(exc).splitlines()[0]}", 1064) from None


class Identity(IdentityProvider):
    """The users CREATE USER made, and the administrator; a wrong password or unknown user is refused."""

    def __init__(self, accounts: Accounts):
        self.accounts = accounts

    def get_plugins(self):
        return [NativePasswordAuthPlugin()]

    async def get_user(self, username: str):
        password = self.accounts.password(username)
        if password is None:
            return None
        return User(name=username, auth_string=NativePasswordAuthPlugin.create_auth_string(password),
                    auth_plugin=NativePasswordAuthPlugin.name)


class StarRocksSession(Session):
    def __init__(self, engine: Engine, catalogs: Catalogs, accounts: Accounts):
        variables = SessionVariables(GlobalVariables())
        variables.set("version", MYSQL_VERSION, force=True)
        variables.set("version_comment", VERSION_COMMENT, force=True)
        super().__init__(variables)
        self.engine = engine
        self.catalogs = catalogs
        self.accounts = accounts
        self.catalog = DEFAULT_CATALOG  # SET CATALOG / USE catalog.db change it

    async def query(self, expression, sql: str, attrs: dict[str, str]):
        # The end of mysql-mimic's chain: a statement nothing here implements. Never a silent OK.
        raise MysqlError(not_supported(strip_comments(sql)), code=NOT_SUPPORTED_CODE)

    async def use(self, database: str) -> None:
        try:
            await asyncio.to_thread(self._use, self.catalog, database)
        except SrError as exc:
            raise MysqlError(str(exc), code=exc.code) from None

    def _use(self, catalog: str, database: str) -> None:
        """USE [catalog.]db: the database must exist in that catalog; the session then works there."""
        if catalog == DEFAULT_CATALOG:
            if database.lower() != "information_schema":
                self.engine.require_database(database)
                if not self.accounts.any_in_database(self.username, database):
                    raise access_denied("ANY", "DATABASE", database)
        else:
            self._admin_only_external(catalog)
            self.catalogs.tables(catalog, database)  # Unknown catalog / Unknown database
        self.catalog, self.database = catalog, database

    async def handle_query(self, sql: str, attrs: dict[str, str]):
        clean = strip_comments(sql)
        try:
            result = await asyncio.to_thread(self._dispatch, clean)
        except SrError as exc:
            raise MysqlError(str(exc), code=exc.code) from None
        except MysqlError:
            raise
        except sqlglot.errors.ParseError as exc:
            raise MysqlError(f"Getting syntax error. Detail message: {str(exc).splitlines()[0]}",
                             code=ErrorCode.PARSE_ERROR) from None
        except Exception as exc:  # noqa: BLE001 - every failure goes back as an ERR packet
            raise MysqlError(f"Unexpected exception: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                             code=1064) from None
        if isinstance(result, Affected):
            _AFFECTED.set(result.rows)
            return None
        if result is NotImplemented:
            try:
                _route_unhandled(clean)
            except SrError as exc:
                raise MysqlError(str(exc), code=exc.code) from None
            try:
                return await super().handle_query(sql, attrs)
            except MysqlError as exc:
                if "Unexpected token" in exc.msg or "Invalid expression" in exc.msg or "Required keyword" in exc.msg:
                    first = exc.msg.splitlines()[0]
                    raise MysqlError(f"Getting syntax error. Detail message: {first}", code=1064) from None
                raise
        return result

    # --- dispatch (runs in a worker thread) ------------------------------------------------
    def _dispatch(self, sql: str):
        head = sql[:40].upper()
        words = head.split()
        first = words[0] if words else ""
        if first == "SET" and re.match(r"SET\s+(SESSION\s+|GLOBAL\s+)?TRANSACTION\b", sql, re.I):
            return [], []  # accepted; every statement here is its own transaction
        if first in ("CREATE", "DROP", "GRANT", "REVOKE", "SHOW", "SET", "ALTER"):
            handled = account_statement(sql, self.username, self.accounts, self.engine)
            if handled is not None:
                return handled
        if first in ("CREATE", "DROP", "SET", "USE", "REFRESH"):
            handled = self._catalog_statement(sql)
            if handled is not None:
                return handled
        if first in ("CREATE", "DROP") and self.catalog != DEFAULT_CATALOG and re.match(
                r"(CREATE|DROP)\s+(DATABASE|SCHEMA|TABLE)\b", sql, re.I):
            raise unsupported(f"{' '.join(sql.split()[:2]).upper()} in external catalog {self.catalog} (the stand-in "
                              "only reads external catalogs)")
        if first == "CREATE" and re.match(r"CREATE\s+(DATABASE|SCHEMA)", sql, re.I):
            m = re.match(rf"CREATE\s+(?:DATABASE|SCHEMA)\s+(IF\s+NOT\s+EXISTS\s+)?({NAME})", sql, re.I)
            self.accounts.require(self.username, "CREATE DATABASE", "CATALOG")
            self.engine.create_database(unq(m.group(2)), bool(m.group(1)))
            return [], []
        if first == "DROP" and re.match(r"DROP\s+(DATABASE|SCHEMA)", sql, re.I):
            m = re.match(rf"DROP\s+(?:DATABASE|SCHEMA)\s+(IF\s+EXISTS\s+)?({NAME})", sql, re.I)
            if unq(m.group(2)) in self.engine.databases():
                self.accounts.require(self.username, "DROP", "DATABASE", unq(m.group(2)))
            self.engine.drop_database(unq(m.group(2)), bool(m.group(1)))
            return [], []
        if first == "CREATE" and re.match(r"CREATE\s+(EXTERNAL\s+)?TABLE", sql, re.I):
            if re.match(r"CREATE\s+EXTERNAL", sql, re.I):
                raise SrError(not_supported(sql), NOT_SUPPORTED_CODE)
            three = re.match(rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{QNAME3}", sql, re.I)
            if three and three.group(3):
                self._qualify(three.group(1), three.group(2), three.group(3), "CREATE TABLE")
                sql = sql[:three.start(1)] + sql[three.end(1):].lstrip()[1:].lstrip()  # default_catalog. dropped
            table, if_not_exists, like = parse_create_table(sql, self.database)
            self.engine.require_database(table.database)
            self.accounts.require(self.username, "CREATE TABLE", "DATABASE", table.database)
            if like:
                src_db, src = like.split(".", 1)
                source = self.engine.require_table(src_db, src)
                self.accounts.require(self.username, "SELECT", "TABLE", src_db, src)
                source.database, source.name = table.database, table.name
                table = source
            self.engine.create_table(table, if_not_exists)
            return [], []
        if first == "DROP" and re.match(r"DROP\s+TABLE", sql, re.I):
            m = re.match(rf"DROP\s+TABLE\s+(IF\s+EXISTS\s+)?{QNAME3}", sql, re.I)
            db, name = self._qualify(m.group(2), m.group(3), m.group(4), "DROP TABLE")
            if name.lower() in {t.name.lower() for t in self.engine.tables(db)}:
                self.accounts.require(self.username, "DROP", "TABLE", db, name)
            self.engine.drop_table(db, name, bool(m.group(1)))
            return [], []
        if first == "ALTER" and re.match(r"ALTER\s+TABLE", sql, re.I):
            return self._alter(sql)
        if first == "TRUNCATE":
            m = re.match(rf"TRUNCATE\s+TABLE\s+{QNAME3}", sql, re.I)
            db, name = self._qualify(m.group(1), m.group(2), m.group(3), "TRUNCATE TABLE")
            table = self.engine.require_table(db, name)
            self.accounts.require(self.username, "DELETE", "TABLE", db, name)
            loading.commit(self.engine, table, [[] for _ in table.columns], [], label=None, txn_id=0, overwrite=True)
            return [], []
        if first == "INSERT":
            return self._insert(sql)
        if first in ("DELETE", "UPDATE"):
            return self._dml(sql, first)
        if first == "SHOW":
            return self._show(sql)
        if first in ("DESC", "DESCRIBE"):
            m = re.match(rf"DESC(?:RIBE)?\s+{QNAME3}\s*$", sql, re.I)
            if m:
                catalog, db, name = self._resolve(m.group(1), m.group(2), m.group(3))
                if catalog != DEFAULT_CATALOG:
                    return self._describe_external(catalog, db, name)
                return self._describe(db, name)
            return NotImplemented
        if first in ("SELECT", "WITH", "("):
            return self._select(sql)
        return NotImplemented

    def _resolve(self, a: str, b: str | None = None, c: str | None = None) -> tuple[str, str, str]:
        """(catalog, database, table) of `[catalog.][db.]table`, from the session's catalog and database."""
        parts = [unq(x) for x in (a, b, c) if x]
        if len(parts) == 3:
            catalog, db, name = parts
        elif len(parts) == 2:
            catalog, (db, name) = self.catalog, parts
        else:
            catalog, db, name = self.catalog, self.database, parts[0]
        if catalog != DEFAULT_CATALOG and not self.catalogs.exists(catalog):
            raise unknown_catalog(catalog)
        if not db:
            raise SrError("No database selected", 1046)
        return catalog, db, name

    def _qualify(self, a: str, b: str | None, c: str | None = None, verb: str = "this statement") -> tuple[str, str]:
        """(db, table) of a table of the internal catalog; an external catalog's table is refused loudly."""
        catalog, db, name = self._resolve(a, b, c)
        if catalog != DEFAULT_CATALOG:
            raise unsupported(f"{verb} on table {catalog}.{db}.{name} of external catalog {catalog} (the stand-in "
                              "only reads external catalogs)")
        return self.engine.require_database(db), name

    def _alter(self, sql: str):
        m = re.match(rf"ALTER\s+TABLE\s+{QNAME3}\s+(.*)$", sql, re.I | re.S)
        db, name = self._qualify(m.group(1), m.group(2), m.group(3), "ALTER TABLE")
        self.engine.require_table(db, name)
        self.accounts.require(self.username, "ALTER", "TABLE", db, name)
        action = m.group(4).strip()
        sm = re.match(rf"SWAP\s+WITH\s+({NAME})$", action, re.I)
        if sm:
            self.engine.require_table(db, unq(sm.group(1)))
            self.accounts.require(self.username, "ALTER", "TABLE", db, unq(sm.group(1)))
            self.engine.swap(db, name, unq(sm.group(1)))
            return [], []
        rm = re.match(rf"RENAME\s+({NAME})$", action, re.I)
        if rm:
            self.engine.rename_table(db, name, unq(rm.group(1)))
            return [], []
        for clause in split_top(action):
            am = re.match(r"ADD\s+COLUMN\s+(.*)$", clause, re.I | re.S)
            if am:
                body = am.group(1).strip()
                if body.startswith("("):
                    for part in split_top(body[1:_matching_paren(body, 0)]):
                        self.engine.add_column(db, name, parse_column(part), None)
                    continue
                after = re.search(rf"\bAFTER\s+({NAME})\s*$", body, re.I)
                if after:
                    body = body[: after.start()]
                body = re.sub(r"\bFIRST\s*$", "", body, flags=re.I)
                self.engine.add_column(db, name, parse_column(body), unq(after.group(1)) if after else None)
                continue
            dm = re.match(rf"DROP\s+COLUMN\s+({NAME})$", clause, re.I)
            if dm:
                self.engine.drop_column(db, name, unq(dm.group(1)))
                continue
            mm = re.match(r"MODIFY\s+COLUMN\s+(.*)$", clause, re.I | re.S)
            if mm:
                self.engine.modify_column(db, name, parse_column(mm.group(1)))
                continue
            raise SrError(not_supported(f"ALTER TABLE {clause}"), NOT_SUPPORTED_CODE)
        self._record_alter_job(db, name)
        return [], []

    def _require_any_on_table(self, db: str, name: str) -> None:
        if not self.accounts.any_on_table(self.username, db, name):
            raise access_denied("ANY", "TABLE", name)

    def _admin_only_external(self, catalog: str) -> None:
        """External catalogs' privileges (USAGE, SELECT on their tables) are not modelled: only the
        administrator uses them."""
        if self.username != self.accounts.admin:
            raise unsupported(f"privileges on external catalog {catalog} for user {self.username} (only the "
                              "administrator reads external catalogs here)")

    def _record_alter_job(self, db: str, name: str) -> None:
        """A schema change runs synchronously here: its job is listed by SHOW ALTER TABLE COLUMN as FINISHED."""
        now = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        job_id = self.engine.next_txn_id()
        jobs = self.engine.__dict__.setdefault("alter_jobs", [])
        jobs.append({"db": db, "row": [job_id, name, now, now, name, job_id + 1, job_id + 2, "1:0", job_id,
                                       "FINISHED", "", None, 86400]})

    def _insert(self, sql: str):
        m = re.match(rf"INSERT\s+(INTO|OVERWRITE)\s+(?:TABLE\s+)?{QNAME3}\s*(.*)$", sql, re.I | re.S)
        if not m:
            raise SrError("Getting syntax error. Detail message: invalid INSERT")
        overwrite = m.group(1).upper() == "OVERWRITE"
        db, name = self._qualify(m.group(2), m.group(3), m.group(4), f"INSERT {m.group(1).upper()}")
        table = self.engine.require_table(db, name)
        self.accounts.require(self.username, "INSERT", "TABLE", db, name)
        rest = m.group(5).strip()
        if re.match(r"(PARTITION|TEMPORARY\s+PARTITION|BY\s+NAME|PROPERTIES)\b", rest, re.I):
            raise SrError(not_supported(f"INSERT {m.group(1)} ... {rest[:30]}"), NOT_SUPPORTED_CODE)
        label = None
        lm = re.match(rf"WITH\s+LABEL\s+({NAME})\s*", rest, re.I)
        if lm:  # the load's label, unique in the database: a label already used refuses the INSERT
            label, rest = unq(lm.group(1)), rest[lm.end():]
            if len(label) > loading.MAX_LABEL_LENGTH:
                raise SrError(f"Getting analyzing error. Detail message: Label format error: a label cannot exceed "
                              f"{loading.MAX_LABEL_LENGTH} characters, got {len(label)}.", 1064)
            if self.engine.label_state(db, label) is not None:
                raise SrError(f"Label [{label}] has already been used.", 5025)
        columns = [c.name for c in table.columns]
        if rest.startswith("("):
            end = _matching_paren(rest, 0)
            inner = rest[1:end]
            if not re.match(r"^\s*(SELECT|WITH)\b", inner, re.I):
                columns = _names(inner)
                rest = rest[end + 1:].strip()
        vm = re.match(r"VALUES\s*(.*)$", rest, re.I | re.S)
        if vm:
            rows = parse_values(vm.group(1))
        else:
            description, fetched = self._run_select(rest)
            rows = [list(r) for r in fetched]
        unknown = [c for c in columns if table.column(c) is None]
        if unknown:
            raise SrError(f"Getting analyzing error. Detail message: Unknown column '{unknown[0]}' in '{name}'.", 1054)
        records = []
        for row in rows:
            if len(row) != len(columns):
                raise SrError("Getting analyzing error. Detail message: Column count doesn't match value count.", 5502)
            records.append(dict(zip(columns, row)))
        converted, ops, outcome = loading.prepare(table, records, strict=True)
        if outcome.filtered:
            raise SrError(f"Insert has filtered data in strict mode. {outcome.errors[0] if outcome.errors else ''}",
                          5025)
        loading.commit(self.engine, table, converted, ops, label=label, txn_id=self.engine.next_txn_id(),
                       overwrite=overwrite)
        return Affected(len(records))

    def _translate(self, sql: str, conn, target: tuple[str, str] | None = None) -> tuple[str, list[str]]:
        """The statement in DuckDB's SQL, and the views registered on `conn` for the external catalogs'
        tables it reads (the caller unregisters them once the statement ran). Each internal table read
        needs SELECT, except `target`, the table a DELETE/UPDATE writes (checked by its caller)."""
        masked = _STRING_LITERAL.sub(lambda lit: "'" + " " * (len(lit.group(0)) - 2) + "'", sql)
        time_travel = TIME_TRAVEL.search(masked)
        if time_travel:  # added in 3.4.0: a syntax error for 3.3's parser, at FOR
            at = time_travel.start()
            line, column = masked.count("\n", 0, at) + 1, at - (masked.rfind("\n", 0, at) + 1)
            raise SrError(f"Getting syntax error at line {line}, column {column}. Detail message: Unexpected input "
                          f"'{sql[at:at + 3]}'.", 1064)
        tree = sqlglot.parse_one(sql, read="starrocks")
        views: list[str] = []
        unreadable: dict[str, str] = {}
        snapshots: dict[tuple[str, str, str], Any] = {}  # one snapshot per table for the whole statement
        try:
            for table in list(tree.find_all(exp.Table)):
                catalog_node, db = table.args.get("catalog"), table.args.get("db")
                if catalog_node is not None or self.catalog != DEFAULT_CATALOG:
                    catalog, db_name, name = self._resolve(*[p.name for p in (catalog_node, db) if p is not None],
                                                           table.name)
                else:
                    catalog, db_name, name = DEFAULT_CATALOG, (db.name if db is not None else self.database), table.name
                if catalog != DEFAULT_CATALOG and db_name.lower() == "information_schema":
                    raise unsupported(f"information_schema of external catalog {catalog}")
                if catalog != DEFAULT_CATALOG:
                    self._admin_only_external(catalog)
                    views.append(self._read_external(table, (catalog, db_name, name), conn, unreadable, snapshots))
                    continue
                if db_name is None:
                    raise SrError("No database selected", 1046)
                table.set("catalog", None)
                if db_name.lower() == "information_schema":
                    table.set("db", exp.to_identifier(INFO))
                    table.set("this", exp.to_identifier(table.name.lower()))
                    continue
                self.engine.require_table(db_name, table.name)
                if target is None or (db_name.lower(), table.name.lower()) != (target[0].lower(), target[1].lower()):
                    self.accounts.require(self.username, "SELECT", "TABLE", db_name, table.name)
                table.set("db", exp.to_identifier(db_name, quoted=True))
                table.set("this", exp.to_identifier(table.name, quoted=True))
            if unreadable:
                _check_readable(tree, unreadable)
        except BaseException:
            for view in views:
                conn.unregister(view)
            raise
        for func in list(tree.find_all(exp.Anonymous)):
            if func.name.lower() == "current_version":
                func.replace(exp.Literal.string(f"{RELEASE}-{COMMIT}"))
        return tree.sql(dialect="duckdb"), views

    def _read_external(self, table: exp.Table, key: tuple[str, str, str], conn, unreadable: dict[str, str],
                       snapshots: dict) -> str:
        """Register the Iceberg table's current snapshot on `conn` and point `table` at it; returns the view.
        A table named twice in one statement is read at one snapshot (`snapshots`)."""
        if key not in snapshots:
            loaded = self.catalogs.load(*key)
            snapshots[key] = (loaded, loaded.arrow(str(self.variables.get("time_zone") or "UTC")))
        loaded, data = snapshots[key]
        view = f"__iceberg_{uuid.uuid4().hex[:16]}"
        conn.register(view, data)
        unreadable.update({c.lower(): why for c, why in loaded.unreadable.items()})
        alias = table.alias or key[2]
        table.replace(exp.Table(this=exp.to_identifier(view, quoted=True),
                                alias=exp.TableAlias(this=exp.to_identifier(alias, quoted=True))))
        return view

    def _run_select(self, sql: str):
        cur = self.engine.cursor()
        query, views = self._translate(sql, cur)
        try:
            with _analysis_errors():
                cur.execute(query)
            return cur.description, cur.fetchall()
        finally:
            for view in views:
                cur.unregister(view)
            cur.close()

    def _select(self, sql: str):
        if re.fullmatch(r"SELECT\s+current_version\s*\(\s*\)", sql, re.I):
            return [[f"{RELEASE}-{COMMIT}"]], ["current_version()"]
        try:
            tree = sqlglot.parse_one(sql, read="starrocks")
        except sqlglot.errors.ParseError:
            return NotImplemented
        if not list(tree.find_all(exp.Table)):
            return NotImplemented
        description, rows = self._run_select(sql)
        return result_set(description, rows)

    def _dml(self, sql: str, verb: str):
        if verb == "DELETE":
            m = re.match(rf"DELETE\s+FROM\s+{QNAME3}", sql, re.I)
        else:
            m = re.match(rf"UPDATE\s+{QNAME3}", sql, re.I)
        db, name = self._qualify(m.group(1), m.group(2), m.group(3), verb)
        table = self.engine.require_table(db, name)
        self.accounts.require(self.username, verb, "TABLE", db, name)
        if verb == "UPDATE" and table.keys_type != "PRIMARY":
            raise SrError("Getting analyzing error. Detail message: does not support update on non-primary-key "
                          "table.", 5502)
        if m.group(0) and re.match(r"\s*PARTITION\b", sql[m.end():], re.I):
            raise SrError(not_supported("DELETE ... PARTITION"), NOT_SUPPORTED_CODE)
        _check_dml(sqlglot.parse_one(sql, read="starrocks"), table, verb)
        with self.engine.write_lock:
            query, views = self._translate(sql, self.engine.db, target=(db, name))
            try:
                with _analysis_errors():
                    self.engine.db.execute(query)
            finally:
                for view in views:
                    self.engine.db.unregister(view)
        return [], []

    def _describe(self, db: str, name: str, full: bool = False, like: str | None = None):
        """DESCRIBE / SHOW [FULL] COLUMNS; FULL adds Collation, Privileges and Comment, as StarRocks
        answers it (Connector/J's DatabaseMetaData.getColumns reads them)."""
        t = self.engine.require_table(db, name)
        self._require_any_on_table(db, name)
        pattern = _like(like)
        rows = []
        for c in t.columns:
            if not pattern.match(c.name):
                continue
            null, key = "YES" if c.nullable else "NO", "true" if c.name in t.key_columns else "false"
            if full:
                collation = "utf8_general_ci" if c.sr_type.name in ("CHAR", "VARCHAR", "STRING") else None
                rows.append([c.name, c.sr_type.column_type, collation, null, key, c.default, "", "", c.comment])
            else:
                rows.append([c.name, c.sr_type.column_type, null, key, c.default, ""])
        if full:
            return rows, ["Field", "Type", "Collation", "Null", "Key", "Default", "Extra", "Privileges", "Comment"]
        return rows, ["Field", "Type", "Null", "Key", "Default", "Extra"]

    # --- external catalogs ---------------------------------------------------------------
    def _catalog_statement(self, sql: str):
        """CREATE EXTERNAL CATALOG, DROP CATALOG, SET CATALOG, USE [catalog.]db, REFRESH EXTERNAL TABLE;
        None for any other statement."""
        m = re.match(rf"CREATE\s+EXTERNAL\s+CATALOG\s+(IF\s+NOT\s+EXISTS\s+)?({NAME})\s*(.*)$", sql, re.I | re.S)
        if m:
            if self.username != self.accounts.admin:
                raise access_denied("CREATE EXTERNAL CATALOG", "SYSTEM", None)
            rest, comment = m.group(3), None
            cm = re.match(r"COMMENT\s+(['\"])((?:\\.|(?!\1).)*)\1\s*(.*)$", rest, re.I | re.S)
            if cm:
                comment, rest = cm.group(2), cm.group(3)
            pm = re.match(r"PROPERTIES\s*\((.*)\)\s*$", rest, re.I | re.S)
            if not pm:
                raise SrError("Getting syntax error. Detail message: CREATE EXTERNAL CATALOG needs "
                              "PROPERTIES (\"key\" = \"value\", ...)", 1064)
            properties = {}
            for item in split_top(pm.group(1)):
                km = re.fullmatch(r"(['\"])(.+?)\1\s*=\s*(['\"])(.*)\3", item.strip(), re.S)
                if not km:
                    raise SrError(f"Getting syntax error. Detail message: invalid property {item[:80]!r}: expected "
                                  "\"key\" = \"value\"", 1064)
                properties[km.group(2)] = km.group(4)
            self.catalogs.create(unq(m.group(2)), properties, comment, bool(m.group(1)))
            return [], []
        m = re.match(rf"DROP\s+CATALOG\s+(IF\s+EXISTS\s+)?({NAME})\s*$", sql, re.I)
        if m:
            name = unq(m.group(2))
            self._admin_only_external(name)
            self.catalogs.drop(name, bool(m.group(1)))
            if self.catalog == name:
                self.catalog, self.database = DEFAULT_CATALOG, None
            return [], []
        m = re.match(rf"SET\s+CATALOG\s+({NAME})\s*$", sql, re.I)
        if m:
            name = unq(m.group(1))
            if not self.catalogs.exists(name):
                raise unknown_catalog(name)
            if name != DEFAULT_CATALOG:
                self._admin_only_external(name)
            if name != self.catalog:
                self.catalog, self.database = name, None
            return [], []
        m = re.match(rf"USE\s+({NAME})(?:\s*\.\s*({NAME}))?\s*$", sql, re.I)
        if m:
            if m.group(2):
                catalog = unq(m.group(1))
                if not self.catalogs.exists(catalog):
                    raise unknown_catalog(catalog)
                self._use(catalog, unq(m.group(2)))
            else:
                self._use(self.catalog, unq(m.group(1)))
            return [], []
        m = re.match(rf"REFRESH\s+EXTERNAL\s+TABLE\s+{QNAME3}\s*(PARTITION\b.*)?$", sql, re.I | re.S)
        if m:
            catalog, db, name = self._resolve(m.group(1), m.group(2), m.group(3))
            if catalog == DEFAULT_CATALOG:
                raise unsupported("REFRESH EXTERNAL TABLE on a table of default_catalog")
            self.catalogs.refresh(catalog, db, name)  # whole table: PARTITION (...) refreshes no less
            return [], []
        return None

    def _show_catalogs(self, sql: str):
        """SHOW CATALOGS / SHOW CREATE CATALOG, and SHOW DATABASES / TABLES of an external catalog; None
        for the internal catalog's SHOW statements."""
        if re.fullmatch(r"SHOW\s+CATALOGS", sql, re.I):
            rows = [[DEFAULT_CATALOG, "Internal", INTERNAL_COMMENT]]
            rows += [[c.name, "Iceberg", c.comment] for c in self.catalogs.all()]
            return rows, ["Catalog", "Type", "Comment"]
        m = re.match(rf"SHOW\s+CREATE\s+CATALOG\s+({NAME})\s*$", sql, re.I)
        if m:
            name = unq(m.group(1))
            if name == DEFAULT_CATALOG:
                raise unsupported("SHOW CREATE CATALOG default_catalog")
            return [[name, self.catalogs.require(name).show_create()]], ["Catalog", "Create Catalog"]
        m = re.match(rf"SHOW\s+(?:DATABASES|SCHEMAS)(?:\s+(?:FROM|IN)\s+({NAME}))?\s*(?:LIKE\s+'([^']*)')?\s*$",
                     sql, re.I)
        if m:
            catalog = unq(m.group(1)) if m.group(1) else self.catalog
            if catalog == DEFAULT_CATALOG:
                return None  # the internal catalog's SHOW DATABASES [FROM default_catalog], below
            pattern = _like(m.group(2))
            names = ["information_schema"] + self.catalogs.databases(catalog)
            return [[d] for d in names if pattern.match(d)], ["Database"]
        m = re.match(rf"SHOW\s+(FULL\s+)?TABLES(?:\s+(?:FROM|IN)\s+({NAME})(?:\s*\.\s*({NAME}))?)?"
                     r"\s*(?:LIKE\s+'([^']*)')?\s*$", sql, re.I)
        if m:
            if m.group(3):
                catalog, db = unq(m.group(2)), unq(m.group(3))
            else:
                catalog, db = self.catalog, unq(m.group(2)) if m.group(2) else self.database
            if catalog == DEFAULT_CATALOG:
                return None  # the internal catalog's SHOW TABLES [FROM [default_catalog.]db], below
            if not self.catalogs.exists(catalog):
                raise unknown_catalog(catalog)
            if not db:
                raise SrError("No database selected", 1046)
            return _show_tables(db, self.catalogs.tables(catalog, db), bool(m.group(1)), m.group(4))
        return None

    def _describe_external(self, catalog: str, db: str, name: str):
        """DESC catalog.db.table: every column nullable and no key, as StarRocks shows an Iceberg table."""
        loaded = self.catalogs.load(catalog, db, name)
        rows = []
        for c in loaded.columns:
            shown = "unknown" if c.name in loaded.unreadable and c.type == "unknown" else (
                c.type.lower() if c.name in loaded.unreadable else c.sr_type.column_type)
            rows.append([c.name, shown, "YES", "false", None, ""])
        return rows, ["Field", "Type", "Null", "Key", "Default", "Extra"]

    def _show(self, sql: str):
        m = re.match(r"SHOW\s+(?:SESSION\s+|GLOBAL\s+)?VARIABLES(?:\s+LIKE\s+'([^']*)')?\s*$", sql, re.I)
        if m:  # here rather than in mysql-mimic, whose LIKE handling fails with this sqlglot
            pattern = _like(m.group(1))
            return ([(k, None if v is None else str(v)) for k, v in self.variables.list() if pattern.match(k)],
                    ["Variable_name", "Value"])
        shown = self._show_catalogs(sql)
        if shown is not None:
            return shown
        m = re.match(rf"SHOW\s+(?:DATABASES|SCHEMAS)(?:\s+(?:FROM|IN)\s+{DEFAULT_CATALOG})?\s*(?:LIKE\s+'([^']*)')?\s*$",
                     sql, re.I)
        if m:
            pattern = _like(m.group(1))
            visible = [d for d in self.engine.databases() if self.accounts.any_in_database(self.username, d)]
            return [[d] for d in ["information_schema"] + visible if pattern.match(d)], ["Database"]
        m = re.match(rf"SHOW\s+(FULL\s+)?TABLES(?:\s+(?:FROM|IN)\s+(?:{DEFAULT_CATALOG}\s*\.\s*)?({NAME}))?"
                     r"\s*(?:LIKE\s+'([^']*)')?\s*$", sql, re.I)
        if m:
            db = unq(m.group(2)) if m.group(2) else self.engine.require_database(self.database)
            self.engine.require_database(db)
            # Only the tables the user holds some privilege on ("Privilege FAQ").
            names = [t.name for t in self.engine.tables(db) if self.accounts.any_on_table(self.username, db, t.name)]
            return _show_tables(db, names, bool(m.group(1)), m.group(3))
        m = re.match(rf"SHOW\s+CREATE\s+TABLE\s+{QNAME3}\s*$", sql, re.I)
        if m:
            db, name = self._qualify(m.group(1), m.group(2), m.group(3), "SHOW CREATE TABLE")
            t = self.engine.require_table(db, name)
            self._require_any_on_table(db, name)
            return [[t.name, t.show_create()]], ["Table", "Create Table"]
        m = re.match(rf"SHOW\s+(FULL\s+)?COLUMNS\s+(?:FROM|IN)\s+{QNAME}(?:\s+(?:FROM|IN)\s+({NAME}))?"
                     r"\s*(?:LIKE\s+'([^']*)')?\s*$", sql, re.I)
        if m:
            if m.group(4):
                db, name = unq(m.group(4)), unq(m.group(2))
            else:
                db, name = self._qualify(m.group(2), m.group(3))
            return self._describe(db, name, full=bool(m.group(1)), like=m.group(5))
        m = re.match(rf"SHOW\s+ALTER\s+TABLE\s+COLUMN(?:\s+(?:FROM|IN)\s+({NAME}))?"
                     r"(?:\s+WHERE\s+TableName\s*=\s*'([^']*)')?"
                     r"(?:\s+ORDER\s+BY\s+(\w+)(?:\s+(ASC|DESC))?)?(?:\s+LIMIT\s+(\d+))?\s*$", sql, re.I)
        if m:
            # Schema changes here are synchronous: every job is FINISHED when its ALTER returns.
            db = unq(m.group(1)) if m.group(1) else self.engine.require_database(self.database)
            self.engine.require_database(db)
            names = ["JobId", "TableName", "CreateTime", "FinishTime", "IndexName", "IndexId", "OriginIndexId",
                     "SchemaVersion", "TransactionId", "State", "Msg", "Progress", "Timeout"]
            rows = [j["row"] for j in self.engine.__dict__.get("alter_jobs", []) if j["db"] == db
                    and (m.group(2) is None or j["row"][1] == m.group(2))]
            if m.group(3):
                lowered = [n.lower() for n in names]
                if m.group(3).lower() not in lowered:
                    raise SrError(f"Getting analyzing error. Detail message: Title name[{m.group(3)}] does not "
                                  "exist.", 1054)
                idx = lowered.index(m.group(3).lower())
                rows = sorted(rows, key=lambda r: (r[idx], r[0]), reverse=(m.group(4) or "").upper() == "DESC")
            if m.group(5):
                rows = rows[: int(m.group(5))]
            return rows, names
        return NotImplemented


NOT_SUPPORTED_CODE = 1235  # MySQL's ER_NOT_SUPPORTED_YET
# Statements StarRocks 3.3 has (SQL reference), by their first keyword; any other first word is a syntax error.
STATEMENT_KEYWORDS = {
    "ADD", "ADMIN", "ALTER", "ANALYZE", "BACKUP", "BEGIN", "CACHE", "CANCEL", "CLEAN", "COMMIT", "CREATE",
    "DEALLOCATE", "DELETE", "DESC", "DESCRIBE", "DROP", "EXECUTE", "EXPLAIN", "EXPORT", "GRANT", "HELP", "INSERT",
    "INSTALL", "KILL", "LOAD", "PAUSE", "PREPARE", "RECOVER", "REFRESH", "RESTORE", "RESUME", "REVOKE", "ROLLBACK",
    "SELECT", "SET", "SHOW", "START", "STOP", "SUBMIT", "SYNC", "TRACE", "TRUNCATE", "UNINSTALL", "UNSET", "UPDATE",
    "USE", "WITH", "(",
}
# What may follow SHOW in StarRocks 3.3 (SHOW statements of the SQL reference).
SHOW_KEYWORDS = {
    "ALTER", "ANALYZE", "AUTHENTICATION", "BACKENDS", "BACKUP", "BASELINE", "BROKER", "CATALOGS", "CHARACTER",
    "CHARSET", "COLLATION", "COLUMNS", "COMPUTE", "CREATE", "DATA", "DATABASES", "DELETE", "DICTIONARY", "DYNAMIC",
    "ENGINES", "ERRORS", "EVENTS", "EXPORT", "FIELDS", "FILE", "FRONTENDS", "FULL", "FUNCTIONS", "GLOBAL", "GRANTS",
    "HISTOGRAM", "INDEX", "INDEXES", "KEYS", "LOAD", "MATERIALIZED", "NODES", "OPEN", "PARTITIONS", "PIPES",
    "PLUGINS", "PRIVILEGES", "PROC", "PROCEDURE", "PROCESSLIST", "PROFILELIST", "PROPERTY", "REPOSITORIES",
    "RESOURCE", "RESOURCES", "RESTORE", "ROLES", "ROUTINE", "RUNNING", "SCHEMAS", "SESSION", "SMALL", "SNAPSHOT",
    "SQLBLACKLIST", "STATS", "STATUS", "STORAGE", "STREAM", "TABLE", "TABLES", "TABLET", "TABLETS", "TEMPORARY",
    "TRANSACTION", "TRIGGERS", "USERS", "VARIABLES", "WAREHOUSES", "WARNINGS", "WHITELIST",
}
# Handled by mysql-mimic's session (connection chatter).
MIMIC_FIRST = {"SET", "USE", "KILL", "BEGIN", "COMMIT", "ROLLBACK", "START", "SELECT", "WITH", "("}
MIMIC_SHOW = {"VARIABLES", "STATUS", "WARNINGS", "ERRORS", "SESSION", "GLOBAL"}


def not_supported(sql: str) -> str:
    head = " ".join(sql.split()[:4])
    return f"not supported by the stand-in: {head[:120]}"


def syntax_error(sql: str, word: str) -> SrError:
    column = max(sql.find(word), 0)
    return SrError(f"Getting syntax error at line 1, column {column}. Detail message: Unexpected input '{word}'.",
                   1064)


def _route_unhandled(sql: str) -> None:
    """A statement _dispatch did not handle: returns if mysql-mimic's session answers it; raises a
    syntax error for what StarRocks cannot parse, "not supported by the stand-in" for the rest."""
    words = re.findall(r"\(|[A-Za-z_]+|\S", sql)
    if not words:
        raise SrError("Getting syntax error. Detail message: empty statement", 1064)
    first = words[0].upper()
    if first not in STATEMENT_KEYWORDS:
        raise syntax_error(sql, words[0])
    if first == "SHOW":
        kind = words[1].upper() if len(words) > 1 else ""
        if kind not in SHOW_KEYWORDS:
            raise syntax_error(sql, words[1] if len(words) > 1 else "<EOF>")
        if kind in MIMIC_SHOW or (kind == "FULL" and len(words) > 2 and words[2].upper() == "PROCESSLIST"):
            if kind == "FULL":
                raise SrError(not_supported(sql), NOT_SUPPORTED_CODE)
            return
        raise SrError(not_supported(sql), NOT_SUPPORTED_CODE)
    if first in MIMIC_FIRST:
        return
    raise SrError(not_supported(sql), NOT_SUPPORTED_CODE)


def _like(pattern: str | None) -> re.Pattern:
    """A SQL LIKE pattern ('%', '_', backslash escapes) as a case-insensitive regex; None matches all."""
    if pattern is None:
        return re.compile(".*", re.S)
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("^" + "".join(out) + "$", re.I | re.S)


def make_server(engine: Engine, accounts: Accounts, aws_endpoint_url: str | None = None) -> MysqlServer:
    """The FE query port; `accounts` are the users and their privileges (shared with Stream Load);
    `aws_endpoint_url` is where external catalogs reach AWS (S3 + Glue) when their properties name no
    endpoint."""
    # CLIENT_LONG_FLAG as MySQL and StarRocks advertise it: without it Connector/J reads the column
    # flags as one byte and takes the scale of every DECIMAL from the flags' second byte (0).
    catalogs = Catalogs(engine, aws_endpoint_url)
    return MysqlServer(session_factory=lambda: StarRocksSession(engine, catalogs, accounts),
                       identity_provider=Identity(accounts),
                       capabilities=DEFAULT_SERVER_CAPABILITIES | Capabilities.CLIENT_LONG_FLAG)
