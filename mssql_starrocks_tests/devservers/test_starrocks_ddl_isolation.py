"""The StarRocks stand-in's information_schema while another session runs DDL.

Several tables load at once (the threaded executor): one table's staging table is created,
swapped and dropped while another table's check asks information_schema whether its table
exists. In StarRocks a table that no DDL touches is listed at every moment
(https://docs.starrocks.io/docs/3.3/sql-reference/information_schema/tables/); the stand-in
rebuilt information_schema after every DDL in separate statements, so a reader between two of
them found it empty and the check said a loaded table did not exist. Here a reader runs
between every two statements the DDL issues, deterministically (pure: no server needed).
"""

from __future__ import annotations

import uuid

import pytest

from mssql_starrocks_devservers.starrocks.engine import INFO, Column, Engine, TableDef


class _ReaderBetweenStatements:
    """The engine's write connection, asking `read()` on another connection after each statement."""

    def __init__(self, connection, read):
        self._connection, self._read = connection, read

    def execute(self, *args, **kwargs):
        result = self._connection.execute(*args, **kwargs)
        self._read()
        return result

    def __getattr__(self, name):
        return getattr(self._connection, name)


def _table(name: str) -> TableDef:
    return TableDef("d", name, [Column("id", "BIGINT", False), Column("v", "VARCHAR(10)", True)],
                    keys_type="PRIMARY", key_columns=["id"])


@pytest.mark.parametrize("ddl", ["create", "rename", "swap", "drop", "add_column"])
def test_a_table_no_ddl_touches_is_listed_at_every_moment_of_another_tables_ddl(tmp_path, ddl):
    engine = Engine(tmp_path / f"sr_{uuid.uuid4().hex}.duckdb")
    engine.create_database("d", False)
    engine.create_table(_table("stable"), False)
    engine.create_table(_table("other"), False)
    engine.create_table(_table("other__load_1"), False)
    seen: list[tuple[int, int]] = []

    def read() -> None:
        cur = engine.cursor()
        tables = cur.execute(f"SELECT COUNT(*) FROM {INFO}.tables WHERE table_schema = 'd' "
                             "AND table_name = 'stable'").fetchone()[0]
        columns = cur.execute(f"SELECT COUNT(*) FROM {INFO}.columns WHERE table_schema = 'd' "
                              "AND table_name = 'stable'").fetchone()[0]
        seen.append((tables, columns))

    engine.db = _ReaderBetweenStatements(engine.db, read)
    {
        "create": lambda: engine.create_table(_table("new"), False),
        "rename": lambda: engine.rename_table("d", "other", "renamed"),
        "swap": lambda: engine.swap("d", "other", "other__load_1"),
        "drop": lambda: engine.drop_table("d", "other__load_1", False),
        "add_column": lambda: engine.add_column("d", "other", Column("w", "INT", True), None),
    }[ddl]()
    engine.db = engine.db._connection
    engine.db.close()

    assert len(seen) > 3  # the readers did run between the DDL's statements
    assert set(seen) == {(1, 2)}, f"information_schema during {ddl} of another table: {seen}"
