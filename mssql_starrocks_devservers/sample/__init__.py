"""Sample databases for the SQL Server stand-in, described in YAML and loaded over TDS (pymssql).

A spec names a database and its tables; each table has its DDL and either literal rows
(`values`, T-SQL row constructors) or an `insert` statement that generates `rows` rows on the
server (GENERATE_SERIES), so data is deterministic and large tables load fast. Loading is
idempotent: the database is created if missing and every table is dropped and recreated.
"""

from __future__ import annotations

from pathlib import Path

import yaml

SPECS = Path(__file__).parent


def _connect(settings: dict[str, str], database: str):
    import pymssql

    return pymssql.connect(server=settings["MSSQL_HOST"], port=str(settings["MSSQL_PORT"]),
                           user=settings["MSSQL_USER"], password=settings["MSSQL_PASSWORD"], database=database,
                           autocommit=True, tds_version="7.4", login_timeout=30)


def read_spec(spec: str | Path) -> dict:
    path = Path(spec) if str(spec).endswith((".yaml", ".yml")) else SPECS / f"{spec}.yaml"
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load(settings: dict[str, str], spec: str | Path = "demo", database: str | None = None,
         rows: dict[str, int] | None = None) -> dict[str, int]:
    """Create the spec's database and tables and fill them; returns {table: row count}."""
    data = read_spec(spec)
    database = database or data.get("database") or settings.get("MSSQL_DATABASE") or "demo"
    conn = _connect(settings, "master")
    try:
        cur = conn.cursor()
        cur.execute(f"IF DB_ID('{database}') IS NULL CREATE DATABASE [{database}]")
    finally:
        conn.close()
    conn = _connect(settings, database)
    counts = {}
    try:
        cur = conn.cursor()
        for schema in data.get("schemas", []):
            cur.execute("SELECT COUNT(*) FROM sys.schemas WHERE name = %s", (schema,))
            if cur.fetchone()[0] == 0:
                cur.execute(f"CREATE SCHEMA [{schema}]")
        ct_database_done = False
        for table in data["tables"]:
            name = table["name"]
            cur.execute(f"IF OBJECT_ID(N'{name.replace(chr(39), chr(39) * 2)}') IS NOT NULL DROP TABLE {name}")
            cur.execute(table["ddl"])
            n = (rows or {}).get(name, table.get("rows", 0))
            if table.get("insert"):
                cur.execute(table["insert"].replace("{rows}", str(int(n))))
            for chunk_start in range(0, len(table.get("values", [])), 100):
                chunk = table["values"][chunk_start:chunk_start + 100]
                columns = f" ({table['columns']})" if table.get("columns") else ""
                cur.execute(f"INSERT INTO {name}{columns} VALUES " + ", ".join(f"({v})" for v in chunk))
            if table.get("description"):
                schema, _, bare = name.partition(".")
                cur.execute("EXEC sp_addextendedproperty @name = N'MS_Description', @value = %s, "
                            "@level0type = N'SCHEMA', @level0name = %s, @level1type = N'TABLE', @level1name = %s",
                            (table["description"], schema.strip("[]"), bare.strip("[]").replace("]]", "]")))
            if table.get("change_tracking"):
                if not ct_database_done:
                    master = _connect(settings, "master")
                    try:
                        try:
                            master.cursor().execute(f"ALTER DATABASE [{database}] SET CHANGE_TRACKING = ON "
                                                    "(CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)")
                        except Exception as exc:  # noqa: BLE001 - already on
                            if "5088" not in str(exc):
                                raise
                    finally:
                        master.close()
                    ct_database_done = True
                cur.execute(f"ALTER TABLE {name} ENABLE CHANGE_TRACKING")
            cur.execute(f"SELECT COUNT_BIG(*) FROM {name}")
            counts[name] = int(cur.fetchone()[0])
    finally:
        conn.close()
    return counts
