"""StarRocks access: SQL over the MySQL protocol (pymysql) and HTTP Stream Load.

Stream Load is StarRocks' bulk path: one HTTP request is one transaction (all of its rows
become visible or none), identified by a label that StarRocks refuses to load twice. The FE
answers the PUT with a 307 to a BE; Python `requests` drops the Authorization header when a
redirect changes host or port, so the redirect is followed here by hand: ask the FE (headers
only, `Expect: 100-continue`), then send the body to the BE it named. Loads run in strict
mode with max_filter_ratio 0: StarRocks otherwise reports Success while nulling values it
cannot convert. A failed load raises with the reason and the first rejected rows taken from
the ErrorURL, never just the status word.

This module runs inside Spark's Python workers too, so it only needs requests + stdlib.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import time
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

from mssql_starrocks.mapping.names import quote_backtick as q

STAGING_MARK = "__load_"


class StarRocksAccessDenied(RuntimeError):
    """Wrong user or password (MySQL error 1045): no retry can fix it."""


class StarRocksLoadError(RuntimeError):
    """A Stream Load that did not load all of its rows; the message carries StarRocks' reason."""

    def __init__(self, message: str, result: dict | None = None):
        super().__init__(message)
        self.result = result or {}


DEFAULT_LOAD_MAX_MB = 64


@dataclass(frozen=True)
class StarRocksSettings:
    host: str
    query_port: int
    http_port: int
    user: str
    password: str
    connect_timeout_s: int = 30
    load_timeout_s: int = 3600
    # Rows per Stream Load transaction, by JSON size: large enough that a table is a few
    # versions per tablet, small enough that a body is held in memory twice at most per task.
    load_max_bytes: int = DEFAULT_LOAD_MAX_MB * 1024 * 1024
    # The Iceberg external catalog StarRocks reads the lake through (load_path catalog), if any.
    iceberg_catalog: str | None = None

    def __repr__(self) -> str:  # never print the password
        return f"StarRocksSettings(host={self.host!r}, query_port={self.query_port}, http_port={self.http_port}, user={self.user!r})"

    __str__ = __repr__

    @property
    def display(self) -> str:
        return f"starrocks://{self.host}:{self.query_port}"

    def jdbc_url(self, database: str | None = None) -> str:
        return f"jdbc:mysql://{self.host}:{self.query_port}/{database or ''}?useSSL=false&rewriteBatchedStatements=true"


@functools.lru_cache(maxsize=None)
def _connection_class():
    """pymysql's Connection, with the TLS context of its default (preferred, unverified) mode
    built once per process instead of once per connection: building one loads the system's CA
    store, about 25 ms of CPU, which was most of the product's CPU on the catalog load path's
    StarRocks step (some 20 statements). Any explicitly asked TLS setting is built as pymysql does."""
    import pymysql

    class Connection(pymysql.connections.Connection):
        preferred_tls = None  # the shared context of the default mode

        def _create_ssl_ctx(self, sslp):
            if not (isinstance(sslp, dict) and not sslp):
                return super()._create_ssl_ctx(sslp)
            if Connection.preferred_tls is None:
                Connection.preferred_tls = super()._create_ssl_ctx(sslp)
            return Connection.preferred_tls

    return Connection


class StarRocksClient:
    def __init__(self, settings: StarRocksSettings):
        self.settings = settings

    # --- SQL ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, database: str | None = None) -> Iterator[Any]:
        import pymysql

        s = self.settings
        try:
            conn = _connection_class()(
                host=s.host, port=s.query_port, user=s.user, password=s.password, database=database,
                autocommit=True, charset="utf8mb4", connect_timeout=s.connect_timeout_s,
            )
        except pymysql.MySQLError as exc:
            error = StarRocksAccessDenied if exc.args and exc.args[0] == 1045 else RuntimeError
            raise error(f"cannot connect to {s.display} as {s.user}: {_mysql_message(exc)}") from None
        try:
            yield conn
        finally:
            conn.close()

    def execute(self, sql: str, params: tuple | None = None, database: str | None = None) -> list[tuple]:
        import pymysql

        with self.connect(database) as conn:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
            except pymysql.MySQLError as exc:
                raise RuntimeError(f"{self.settings.display}: {_mysql_message(exc)} (statement: {sql[:300]})") from None
            return list(cur.fetchall()) if cur.description else []

    def run_in_session(self, statements: list[str]) -> list[int]:
        """Statements in order on one connection (session variables set first apply to the
        rest); the rows each affected. A failure names the statement."""
        import pymysql

        with self.connect() as conn:
            cur = conn.cursor()
            affected = []
            for sql in statements:
                try:
                    affected.append(int(cur.execute(sql) or 0))
                except pymysql.MySQLError as exc:
                    raise RuntimeError(f"{self.settings.display}: {_mysql_message(exc)} (statement: {sql[:300]})") \
                        from None
            return affected

    def version(self) -> str:
        return str(self.execute("SELECT current_version()")[0][0])

    def ensure_database(self, database: str) -> None:
        """Create the database if it is missing. StarRocks asks for CREATE DATABASE on the catalog
        even with IF NOT EXISTS, so an existing database is not created again: a user granted only
        that database's privileges loads into it."""
        if not self.database_exists(database):
            self.execute(f"CREATE DATABASE IF NOT EXISTS {q(database)}")

    def database_exists(self, database: str) -> bool:
        rows = self.execute("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = %s", (database,))
        return bool(rows and rows[0][0])

    def table_exists(self, database: str, table: str) -> bool:
        rows = self.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (database, table),
        )
        return bool(rows and rows[0][0])

    def tables_like(self, database: str, prefix: str) -> list[str]:
        rows = self.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (database,)
        )
        return [r[0] for r in rows if str(r[0]).startswith(prefix)]

    def columns(self, database: str, table: str) -> list[tuple[str, str]]:
        rows = self.execute(
            "SELECT column_name, column_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (database, table),
        )
        return [(r[0], r[1]) for r in rows]

    def column_nullability(self, database: str, table: str) -> dict[str, bool]:
        """Whether each column accepts NULL, as StarRocks created it (information_schema IS_NULLABLE)."""
        rows = self.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (database, table),
        )
        return {r[0]: str(r[1]).upper() == "YES" for r in rows}

    def count(self, database: str, table: str) -> int:
        return int(self.execute(f"SELECT COUNT(*) FROM {q(database)}.{q(table)}")[0][0])

    def drop_table(self, database: str, table: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {q(database)}.{q(table)}")

    def query_dicts(self, sql: str, params: tuple | None = None) -> list[dict]:
        import pymysql

        with self.connect() as conn:
            cur = conn.cursor(pymysql.cursors.DictCursor)
            try:
                cur.execute(sql, params)
            except pymysql.MySQLError as exc:
                raise RuntimeError(f"{self.settings.display}: {_mysql_message(exc)} (statement: {sql[:300]})") from None
            return list(cur.fetchall()) if cur.description else []

    def wait_schema_change(self, database: str, table: str, timeout_s: float = 3600) -> None:
        """Wait for the table's latest ALTER TABLE ... COLUMN job (StarRocks runs them asynchronously)."""
        deadline = time.monotonic() + timeout_s
        while True:
            jobs = self.query_dicts(f"SHOW ALTER TABLE COLUMN FROM {q(database)} WHERE TableName = %s "
                                    "ORDER BY CreateTime DESC LIMIT 1", (table,))
            state = str(jobs[0].get("State", "FINISHED")).upper() if jobs else "FINISHED"
            if state == "FINISHED":
                return
            if state == "CANCELLED":
                raise RuntimeError(f"schema change of {database}.{table} was cancelled: {jobs[0].get('Msg')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"schema change of {database}.{table} still {state} after {timeout_s:.0f}s")
            time.sleep(1.0)

    def swap(self, database: str, table: str, other: str) -> None:
        """Atomically exchange two tables (readers see either the old or the new table)."""
        self.execute(f"ALTER TABLE {q(database)}.{q(table)} SWAP WITH {q(other)}")

    # --- Stream Load -------------------------------------------------------------------------
    def stream_load(self, database: str, table: str, label: str, body: Iterable[bytes] | bytes, *,
                    columns: list[str] | None = None, column_exprs: dict[str, str] | None = None,
                    fmt: str = "json") -> dict:
        return stream_load(self.settings, database, table, label, body, columns=columns,
                           column_exprs=column_exprs, fmt=fmt)


def _auth(settings: StarRocksSettings) -> str:
    token = base64.b64encode(f"{settings.user}:{settings.password}".encode()).decode()
    return "Basic " + token


def load_headers(label: str, *, columns: list[str] | None, column_exprs: dict[str, str] | None,
                 fmt: str, timeout_s: int) -> dict[str, str]:
    headers = {
        "label": label,
        "format": fmt,
        "strict_mode": "true",
        "max_filter_ratio": "0",
        "timezone": "UTC",
        "timeout": str(timeout_s),
    }
    if fmt == "json":
        headers["strip_outer_array"] = "true"
    if columns:
        exprs = column_exprs or {}
        parts = [q(c) for c in columns] + [f"{q(target)}={expr}" for target, expr in exprs.items()]
        headers["columns"] = ", ".join(parts)
    return headers


def stream_load(settings: StarRocksSettings, database: str, table: str, label: str,
                body: Iterable[bytes] | bytes, *, columns: list[str] | None = None,
                column_exprs: dict[str, str] | None = None, fmt: str = "json") -> dict:
    """One Stream Load transaction. Returns StarRocks' reply; raises StarRocksLoadError otherwise.

    A reused label is not taken as success: the label's state is asked, and only a finished
    (VISIBLE/COMMITTED) load counts; the caller still verifies the rows it expects.
    """
    import requests

    auth = _auth(settings)
    headers = load_headers(label, columns=columns, column_exprs=column_exprs, fmt=fmt,
                           timeout_s=settings.load_timeout_s)
    fe_url = f"http://{settings.host}:{settings.http_port}/api/{database}/{table}/_stream_load"
    ask = requests.put(
        fe_url, data=b"", headers={**headers, "Authorization": auth, "Expect": "100-continue"},
        allow_redirects=False, timeout=settings.connect_timeout_s,
    )
    if ask.status_code != 307 or "Location" not in ask.headers:
        raise StarRocksLoadError(
            f"Stream Load {label} into {database}.{table}: the FE answered {ask.status_code} instead of a redirect "
            f"to a BE: {_short(ask.text)}"
        )
    be_url = ask.headers["Location"]
    reply = requests.put(be_url, data=body, headers={**headers, "Authorization": auth},
                         timeout=settings.load_timeout_s)
    try:
        result = reply.json()
    except ValueError:
        raise StarRocksLoadError(
            f"Stream Load {label} into {database}.{table}: HTTP {reply.status_code}: {_short(reply.text)}"
        ) from None
    status = result.get("Status")
    if status in ("Success", "Publish Timeout"):
        return result
    if status == "Label Already Exists":
        state = label_state(settings, database, label)
        if state in ("VISIBLE", "COMMITTED", "FINISHED"):
            return {**result, "Status": "Label Already Exists", "ExistingJobStatus": state, "reused": True}
        raise StarRocksLoadError(
            f"Stream Load {label} into {database}.{table}: label already exists with state {state} "
            f"(ExistingJobStatus {result.get('ExistingJobStatus')}); not assuming it loaded", result)
    raise StarRocksLoadError(describe_failure(settings, database, table, label, result), result)


def label_state(settings: StarRocksSettings, database: str, label: str) -> str:
    """The state of a load label (`GET /api/{db}/get_load_state?label=`), e.g. VISIBLE, UNKNOWN."""
    import requests

    url = f"http://{settings.host}:{settings.http_port}/api/{database}/get_load_state"
    resp = requests.get(url, params={"label": label}, headers={"Authorization": _auth(settings)},
                        timeout=settings.connect_timeout_s)
    try:
        payload = resp.json()
    except ValueError:
        return f"UNKNOWN (HTTP {resp.status_code})"
    return str(payload.get("state") or payload.get("State") or "UNKNOWN").upper()


def check_http_login(settings: StarRocksSettings) -> str:
    """What a Stream Load needs from the FE's HTTP port, asked with the run's credentials: a load
    label's state (`GET /api/{db}/get_load_state`), which StarRocks answers only for a valid user
    (unlike `/api/health`). Raises with the settings to fix when the login is refused."""
    import requests

    where = f"http://{settings.host}:{settings.http_port}"
    resp = requests.get(f"{where}/api/information_schema/get_load_state", params={"label": "mssql_starrocks_check"},
                        headers={"Authorization": _auth(settings)}, timeout=settings.connect_timeout_s)
    if resp.status_code in (401, 403):
        raise RuntimeError(f"{where} refused user {settings.user} (HTTP {resp.status_code}): check STARROCKS_USER "
                           "and STARROCKS_PASSWORD")
    if resp.status_code >= 400:
        raise RuntimeError(f"{where} answered HTTP {resp.status_code} to a load-state request: {_short(resp.text)}")
    return f"{where} accepts user {settings.user} (Stream Load API, HTTP {resp.status_code})"


def describe_failure(settings: StarRocksSettings, database: str, table: str, label: str, result: dict) -> str:
    """StarRocks' reason for a failed load, with the first rejected rows from its ErrorURL."""
    import requests

    parts = [
        f"Stream Load {label} into {database}.{table} failed: {result.get('Status')}: {result.get('Message')}",
        f"rows total={result.get('NumberTotalRows')} loaded={result.get('NumberLoadedRows')} "
        f"filtered={result.get('NumberFilteredRows')}",
    ]
    error_url = result.get("ErrorURL")
    if error_url:
        try:
            text = requests.get(error_url, timeout=settings.connect_timeout_s).text
            lines = [ln for ln in text.splitlines() if ln.strip()][:5]
            parts.append("first rejected rows (from ErrorURL):\n  " + "\n  ".join(_short(ln, 500) for ln in lines))
        except requests.RequestException as exc:
            parts.append(f"(ErrorURL {error_url} could not be read: {exc})")
    return "\n".join(parts)


def make_label(*parts: str, limit: int = 128) -> str:
    """A Stream Load label from parts: letters, digits, '_' and '-' only, at most `limit` chars
    (StarRocks allows 128; a prefix leaves room for what is appended)."""
    import hashlib
    import re

    raw = "_".join(parts)
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", raw)
    if len(clean) <= limit:
        return clean
    digest = hashlib.sha1(raw.encode()).hexdigest()[:16]
    return clean[: limit - 17] + "_" + digest


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


def _mysql_message(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    if len(args) >= 2:
        return f"error {args[0]}: {args[1]}"
    return str(exc)
