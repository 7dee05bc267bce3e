"""SQL Server access: JDBC options for Spark's extract, pymssql for catalog and count queries.

Catalog reads use INFORMATION_SCHEMA (base type names and character lengths, portable across
SQL Server versions) plus sys views where INFORMATION_SCHEMA has no answer (row estimates,
identity, table comments, last write time). The password is only ever handed to the driver,
never put into a URL or a message.
"""

from __future__ import annotations

import re

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

from mssql_starrocks.mapping import names
from mssql_starrocks.mapping import typemap
from mssql_starrocks.source.trust import TrustPolicy, untrusted_message

ISOLATION_SQL = {
    "read_committed": "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
    "snapshot": "SET TRANSACTION ISOLATION LEVEL SNAPSHOT",
    "read_uncommitted": "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED",
}


class SourceError(RuntimeError):
    """A problem with the source table (missing, unreadable, unsupported) named by table."""

    @property
    def transient(self) -> bool:
        """SQL Server errors a retry can get past: deadlock victim, lock or query timeout, Azure SQL
        busy or failing over, the connection lost. Never a missing table or refused login."""
        return bool(TRANSIENT_ERRORS.search(str(self)))


class TableNotFound(SourceError):
    """The table is not in the database (or not visible to the login)."""


class UntrustedCertificate(SourceError):
    """Encryption and certificate checking on, and the server's certificate not trusted: refused
    before the login (and the password) was sent. Never transient."""

    @property
    def transient(self) -> bool:
        return False


TRANSIENT_ERRORS = re.compile(r"error (1205|1222|-2|233|4060|40197|40501|40613|49918|49919|49920|10053|10054|"
                              r"10060|20003|20006|20009|20047):|Adaptive Server connection (timed out|failed)|"
                              r"connection (was )?(reset|lost|closed)", re.I)


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    row_estimate: int | None
    description: str | None


@dataclass(frozen=True)
class MssqlSettings:
    host: str
    port: int
    database: str
    user: str
    password: str
    encrypt: bool = True
    trust_server_certificate: bool = False
    host_name_in_certificate: str | None = None
    ca_file: str | None = None
    login_timeout_s: int = 30

    def __repr__(self) -> str:  # never print the password
        return f"MssqlSettings(host={self.host!r}, port={self.port}, database={self.database!r}, user={self.user!r})"

    __str__ = __repr__

    def with_database(self, database: str) -> "MssqlSettings":
        return MssqlSettings(**{**self.__dict__, "database": database})

    @property
    def display(self) -> str:
        return f"mssql://{self.host}:{self.port}/{self.database}"

    @property
    def trust(self) -> TrustPolicy:
        """The TLS trust policy every client to this server applies (source/trust.py)."""
        return TrustPolicy(encrypt=self.encrypt, trust_server_certificate=self.trust_server_certificate,
                           ca_file=self.ca_file, host_name_in_certificate=self.host_name_in_certificate)

    def jdbc_url(self) -> str:
        """The JDBC URL without credentials (safe to show)."""
        parts = [
            f"jdbc:sqlserver://{self.host}:{self.port}",
            f"databaseName={{{self.database}}}",
            *self.trust.jdbc_properties(),
            f"loginTimeout={self.login_timeout_s}",
            "applicationName=mssql_starrocks",
            # Keep strings as NVARCHAR parameters, and fail rather than guess on bad dates.
            "sendStringParametersAsUnicode=true",
        ]
        return ";".join(parts)

    def jdbc_options(self, *, fetch_size: int, isolation: str) -> dict[str, str]:
        """Options for Spark's JDBC source; contains the password: never log the result."""
        return {
            "url": self.jdbc_url(),
            "user": self.user,
            "password": self.password,
            "driver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
            "fetchsize": str(fetch_size),
            "sessionInitStatement": ISOLATION_SQL[isolation],
            "preferTimestampNTZ": "true",
            **self.trust.jdbc_options(),
        }


class MssqlClient:
    """Small synchronous client for catalog and count queries (pymssql / FreeTDS)."""

    def __init__(self, settings: MssqlSettings):
        self.settings = settings

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        import pymssql

        s = self.settings
        trust = s.trust
        if trust.verifies and trust.host_name_in_certificate:
            self._refuse_untrusted()  # FreeTDS checks only the name it connects to
        try:
            conn = pymssql.connect(
                **trust.pymssql_args(s.host, s.port), user=s.user, password=s.password, database=s.database,
                login_timeout=s.login_timeout_s, timeout=600, appname="mssql_starrocks", tds_version="7.4",
                autocommit=True,
            )
        except ValueError as exc:  # a CA file that is not there
            raise UntrustedCertificate(f"{s.display}: {exc}") from None
        except pymssql.Error as exc:
            if trust.verifies:
                self._refuse_untrusted()
            raise SourceError(f"cannot connect to {s.display} as {s.user}: {_server_message(exc)}") from None
        try:
            yield conn
        finally:
            conn.close()

    def _refuse_untrusted(self) -> None:
        s = self.settings
        reason = s.trust.diagnose(s.host, s.port, timeout_s=s.login_timeout_s)
        if reason:
            raise UntrustedCertificate(untrusted_message(s.display, reason))

    def query(self, sql: str, params: tuple | None = None) -> list[tuple]:
        import pymssql

        with self.connect() as conn:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                return list(cur.fetchall()) if cur.description else []
            except pymssql.Error as exc:
                raise SourceError(f"{self.settings.display}: {_server_message(exc)}") from None

    def server_version(self) -> str:
        return str(self.query("SELECT CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128))")[0][0])

    def list_tables(self) -> list[TableInfo]:
        rows = self.query(
            "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.TABLES "
            "WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME"
        )
        estimates = {(r[0], r[1]): r[2] for r in self.query(
            "SELECT s.name, t.name, SUM(p.rows) FROM sys.tables t "
            "JOIN sys.schemas s ON s.schema_id = t.schema_id "
            "JOIN sys.partitions p ON p.object_id = t.object_id AND p.index_id IN (0, 1) "
            "GROUP BY s.name, t.name"
        )}
        comments = {(r[0], r[1]): r[2] for r in self.query(
            "SELECT s.name, t.name, CAST(ep.value AS NVARCHAR(4000)) FROM sys.extended_properties ep "
            "JOIN sys.tables t ON t.object_id = ep.major_id "
            "JOIN sys.schemas s ON s.schema_id = t.schema_id "
            "WHERE ep.class = 1 AND ep.minor_id = 0 AND ep.name = 'MS_Description'"
        )}
        return [TableInfo(r[0], r[1], _int_or_none(estimates.get((r[0], r[1]))), comments.get((r[0], r[1])))
                for r in rows]

    def columns(self, schema: str, table: str) -> list[typemap.SourceColumn]:
        rows = self.query(
            "SELECT COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, "
            "DATETIME_PRECISION, IS_NULLABLE, ORDINAL_POSITION FROM INFORMATION_SCHEMA.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        if not rows:
            raise TableNotFound(
                f"table [{schema}].[{table}] not found in {self.settings.display} (or it has no columns you can see)"
            )
        out = []
        for name, dtype, char_len, num_prec, num_scale, dt_prec, is_nullable, ordinal in rows:
            dtype = str(dtype).lower()
            if dtype in ("datetime2", "datetimeoffset", "time"):
                precision, scale = None, _int_or_none(dt_prec)
            elif dtype in ("decimal", "numeric", "float", "real"):
                precision, scale = _int_or_none(num_prec), _int_or_none(num_scale)
            else:
                precision, scale = None, None
            out.append(typemap.SourceColumn(
                name=name, data_type=dtype, max_length=_int_or_none(char_len), precision=precision, scale=scale,
                nullable=str(is_nullable).upper() == "YES", ordinal=int(ordinal),
            ))
        return out

    def primary_key(self, schema: str, table: str) -> list[str]:
        rows = self.query(
            "SELECT k.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS c "
            "JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE k ON k.CONSTRAINT_NAME = c.CONSTRAINT_NAME "
            "AND k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME "
            "WHERE c.CONSTRAINT_TYPE = 'PRIMARY KEY' AND c.TABLE_SCHEMA = %s AND c.TABLE_NAME = %s "
            "ORDER BY k.ORDINAL_POSITION",
            (schema, table),
        )
        return [r[0] for r in rows]

    def row_count(self, schema: str, table: str) -> int:
        return int(self.query(f"SELECT COUNT_BIG(*) FROM {names.quote_tsql(schema)}.{names.quote_tsql(table)}")[0][0])

    def change_signatures(self) -> dict[tuple[str, str], str]:
        """A cheap fingerprint per table of the database, in one query: row count (sys.partitions)
        and last write time (sys.dm_db_index_usage_stats); either changes when the table is written.
        One query whatever the number of tables, so a sensor over hundreds of tables stays cheap."""
        rows = self.query(
            "SELECT s.name, t.name, "
            "(SELECT SUM(p.rows) FROM sys.partitions p WHERE p.object_id = t.object_id AND p.index_id IN (0, 1)), "
            "(SELECT MAX(u.last_user_update) FROM sys.dm_db_index_usage_stats u "
            "WHERE u.database_id = DB_ID() AND u.object_id = t.object_id) "
            "FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id"
        )
        return {(schema, table): f"rows={count};last_update={last}" for schema, table, count, last in rows}


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _server_message(exc: Exception) -> str:
    """The server's message from a pymssql error (its args hold (number, bytes message))."""
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return f"error {args[0]}: {_db_lib_text(args[1])}"
    if args and isinstance(args[0], tuple) and len(args[0]) >= 2:
        return f"error {args[0][0]}: {_db_lib_text(args[0][1])}"
    return str(exc)


def _db_lib_text(msg) -> str:
    """The server's words before FreeTDS' own "DB-Lib error" lines; when the server said nothing
    (no connection: refused, unknown host, timeout), the reason FreeTDS gives, each line once."""
    msg = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    first = msg.split("DB-Lib error")[0].strip()
    if first:
        return first
    lines = [line.strip() for line in msg.splitlines() if line.strip() and not line.startswith("DB-Lib error message")]
    return "; ".join(dict.fromkeys(lines))
