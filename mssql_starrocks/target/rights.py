"""Whether the run's StarRocks user may create and load tables in a database, found out by doing it.

`mssql-starrocks check` probes each StarRocks database the tables file loads into, as the run's
own user: it creates a uniquely named table, Stream Loads one row into it with the run's own
client (target/starrocks.stream_load), counts it, renames it (ALTER, as the run's RENAME and
SWAP WITH need), deletes the row where a table of that database uses the catalog load path
(its deltas are DELETE statements), and drops it. The probe table is dropped whatever
happens. A database that does not exist yet is what the run creates (CREATE DATABASE on the
default catalog); the probe creates it, probes inside it and drops it again.

A refusal names the database, the privilege StarRocks asked for and the GRANT statement the
administrator runs.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from mssql_starrocks.mapping.names import quote_backtick as q
from mssql_starrocks.target.starrocks import StarRocksClient, StarRocksLoadError, stream_load

PROBE_PREFIX = "_mssql_starrocks_probe_"
# StarRocks 3.x's refusal: "Access denied; you need (at least one of) the INSERT privilege(s) on TABLE t ..."
_DENIED = re.compile(r"the (.+?) privilege\(s\) on (CATALOG|DATABASE|TABLE|SYSTEM)\b", re.I)
TABLE_PRIVILEGES = "SELECT, INSERT, DELETE, ALTER, DROP"


@dataclass(frozen=True)
class DatabaseRights:
    """What the probe found for one StarRocks database: ok, and one line saying what was done or
    what is missing (with the GRANT to run)."""

    database: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class ProbeTarget:
    """A database the run loads into, and how its tables are created there."""

    database: str
    replication_num: int | None = None
    deletes: bool = False  # a table there uses the catalog load path: its deltas are DELETE statements


def grants_needed(database: str, user: str) -> str:
    """Every grant a run needs in `database` (which must exist), as the administrator types them."""
    who = f"USER '{user}'@'%'"
    return (f"GRANT CREATE TABLE ON DATABASE {q(database)} TO {who}; "
            f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN DATABASE {q(database)} TO {who}")


def _grant_for(message: str, database: str, user: str) -> tuple[str, str]:
    """(the missing privilege as StarRocks named it, the GRANT that gives it) from a refusal."""
    who = f"USER '{user}'@'%'"
    m = _DENIED.search(message)
    if not m:
        return "", grants_needed(database, user)
    privilege, kind = m.group(1).upper(), m.group(2).upper()
    if kind == "CATALOG":
        return (f"{privilege} on CATALOG default_catalog",
                f"GRANT {privilege} ON CATALOG default_catalog TO {who} (or create the database: "
                f"CREATE DATABASE {q(database)}; then {grants_needed(database, user)})")
    if kind == "DATABASE":
        return f"{privilege} on DATABASE {database}", f"GRANT {privilege} ON DATABASE {q(database)} TO {who}"
    if kind == "TABLE":
        return (f"{privilege} on its tables",
                f"GRANT {TABLE_PRIVILEGES} ON ALL TABLES IN DATABASE {q(database)} TO {who}")
    return f"{privilege} on SYSTEM", grants_needed(database, user)


def _short(text: str) -> str:
    """StarRocks' refusal without its hint about roles (the GRANT comes instead)."""
    first = str(text).split(" Please ask the admin")[0]
    return " ".join(first.split())[:400]


class _Refused(Exception):
    def __init__(self, action: str, message: str):
        super().__init__(message)
        self.action = action


def probe_database(client: StarRocksClient, target: ProbeTarget) -> DatabaseRights:
    """Create, load, count, rename and drop a probe table in `target.database` as the run's user."""
    database, user = target.database, client.settings.user
    created_database = False
    try:
        if not client.database_exists(database):
            _step(lambda: client.execute(f"CREATE DATABASE {q(database)}"), "create the database")
            created_database = True
        may = _probe_table(client, target)
    except _Refused as exc:
        privilege, grant = _grant_for(str(exc), database, user)
        missing = f"; missing privilege: {privilege}" if privilege else ""
        return DatabaseRights(database, False,
                              f"user {user} may not {exc.action} in StarRocks database {database}: {_short(exc)}"
                              f"{missing}. Ask the StarRocks administrator to run: {grant}")
    finally:
        dropped = _drop_database(client, database) if created_database else None
    detail = f"{database}: user {user} may {may}"
    if created_database:
        detail += f"; the database does not exist yet: the user may create it (the run does), {dropped}"
    return DatabaseRights(database, True, detail)


def _probe_table(client: StarRocksClient, target: ProbeTarget) -> str:
    """What the user may do to tables there ("create, ... and drop tables"); _Refused at the first refusal."""
    database = target.database
    probe = f"{PROBE_PREFIX}{uuid.uuid4().hex[:12]}"
    renamed = probe + "_b"
    properties = (f' PROPERTIES ("replication_num" = "{target.replication_num}")'
                  if target.replication_num else "")
    current = None
    try:
        _step(lambda: client.execute(
            f"CREATE TABLE {q(database)}.{q(probe)} (`id` INT NOT NULL, `note` VARCHAR(64) NULL) "
            f"DUPLICATE KEY (`id`) DISTRIBUTED BY HASH (`id`) BUCKETS 1{properties}"), "create tables")
        current = probe
        _step(lambda: stream_load(client.settings, database, probe, f"{probe}_load", b'[{"id": 1, "note": "probe"}]',
                                  columns=["id", "note"], fmt="json"), "Stream Load into its tables")
        count = _step(lambda: client.count(database, probe), "read its tables (SELECT)")
        if count != 1:
            raise _Refused("load a row that can be read back", f"the probe table holds {count} rows, not 1")
        _step(lambda: client.execute(f"ALTER TABLE {q(database)}.{q(probe)} RENAME {q(renamed)}"),
              "alter its tables (the run renames and swaps them)")
        current = renamed
        steps = ["create", "Stream Load into", "read", "alter"]
        if target.deletes:
            _step(lambda: client.execute(f"DELETE FROM {q(database)}.{q(renamed)} WHERE `id` = 1"),
                  "delete rows (the catalog load path's deltas)")
            steps.append("delete")
        _step(lambda: client.execute(f"DROP TABLE {q(database)}.{q(renamed)}"), "drop its tables")
        current = None
        steps.append("drop tables")
        return ", ".join(steps[:-1]) + " and " + steps[-1]
    finally:
        if current is not None:  # a refusal part way: the probe table must not stay behind
            try:
                client.drop_table(database, current)
            except Exception:  # noqa: BLE001 - the refusal above is what the user must read
                pass


def _step(action, what: str):
    """Run one probe step; a refusal (SQL error or failed Stream Load) becomes _Refused(what)."""
    try:
        return action()
    except StarRocksLoadError as exc:
        raise _Refused(what, str(exc.result.get("Message") or exc)) from None
    except RuntimeError as exc:
        raise _Refused(what, str(exc)) from None


def _drop_database(client: StarRocksClient, database: str) -> str | None:
    """Drop the database the probe created (empty: its probe table is gone); what to say if it stays."""
    try:
        client.execute(f"DROP DATABASE IF EXISTS {q(database)}")
        return "and the probe dropped it again"
    except RuntimeError as exc:
        return f"but may not drop it again ({_short(exc)}): the empty database stays, for the run"
