"""Which columns a table migrates: `plan`, definitions load and the extract derive them the same
way (TablePlan.schema_plan), so a table with no columns left, or a column the project cannot
carry, is refused by each of them, by name, before anything is written."""

from __future__ import annotations

import dagster as dg
import pytest
from click.testing import CliRunner

from mssql_starrocks import cli, settings
from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.lib.config import TablesFileError, load_plans
from mssql_starrocks_tests import e2e

ALL_EXCLUDED = ("database: d\ntables:\n  - {schema: dbo, name: t, exclude_columns: [a, b], "
                "columns: [{name: a, type: int}, {name: b, type: nvarchar, max_length: 10}]}\n")
NO_COLUMNS_LEFT = ("table dbo.t: exclude_columns: no columns left to migrate (d.dbo.t has only a, b, all excluded); "
                   "keep at least one column, or remove the table from the tables file")
REFUSED_TYPE = ("database: d\ntables:\n  - {schema: dbo, name: t, "
                "columns: [{name: a, type: int}, {name: v, type: vector, max_length: 3}]}\n")
REFUSED_TYPE_MESSAGE = "table d.dbo.t cannot be migrated: column [v]: SQL Server type VECTOR is not supported"


def write(tmp_path, text: str):
    path = tmp_path / "tables.yaml"
    path.write_text(text)
    return path


def plan(tmp_path, tables_file, *args: str):
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    return CliRunner().invoke(cli.main, ["--env-file", str(env_file), "plan", *args],
                              env={"MSSQL_STARROCKS_TABLES_FILE": str(tables_file)})


# --- known from the tables file -------------------------------------------------------------
def test_plan_refuses_a_table_whose_columns_are_all_excluded_naming_it(tmp_path):
    path = write(tmp_path, ALL_EXCLUDED)
    done = plan(tmp_path, path, "dbo.t")
    assert done.exit_code == 1
    assert f"Error: {path}: {NO_COLUMNS_LEFT}" in done.output
    assert f"(columns: as {path} lists them (a run reads SQL Server's catalog; `--live` plans from it))" in done.output
    assert "CREATE TABLE" not in done.output  # no DDL of audit columns only


def test_plan_refuses_a_type_it_cannot_carry_and_says_where_the_columns_came_from(tmp_path):
    path = write(tmp_path, REFUSED_TYPE)
    done = plan(tmp_path, path, "dbo.t")
    assert done.exit_code == 1 and f"Error: {REFUSED_TYPE_MESSAGE}\n" in done.output
    fine = write(tmp_path, REFUSED_TYPE.replace("vector, max_length: 3", "nvarchar, max_length: 3"))
    done = plan(tmp_path, fine, "dbo.t")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[1] == f"columns: as {fine} lists them (a run reads SQL Server's catalog; " \
                                          "`--live` plans from it)"
    assert "VARCHAR(9)" in done.output


@pytest.mark.parametrize("body,expected", [
    (ALL_EXCLUDED, NO_COLUMNS_LEFT),
    (REFUSED_TYPE, f"table dbo.t: columns: {REFUSED_TYPE_MESSAGE}; list such columns under exclude_columns "
                   "(or rename them), or remove the table"),
], ids=["all-excluded", "refused-type"])
def test_what_plan_refuses_from_the_tables_file_is_refused_when_definitions_load(tmp_path, body, expected):
    """A run never starts on a table `plan` refused from the file's own `columns`."""
    path = write(tmp_path, body)
    with pytest.raises(TablesFileError) as err:
        load_plans(path)
    assert str(err.value) == f"{path}: {expected}"


def test_without_columns_in_the_file_the_same_entry_loads_and_is_checked_at_run_time(tmp_path):
    path = write(tmp_path, "database: d\ntables:\n  - {schema: dbo, name: t, exclude_columns: [a, b]}\n")
    [loaded] = load_plans(path)
    assert loaded.listed_columns is None


# --- known only from SQL Server's catalog: refused by the extract -------------------------------
DB = "columns"


def test_a_table_whose_live_columns_are_all_excluded_is_refused_at_load_writes_nothing_and_is_not_retried(
        devservers, spark, tmp_path):
    e2e.mssql_rows(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    e2e.mssql_rows(devservers, "IF OBJECT_ID('dbo.all_out') IS NOT NULL DROP TABLE dbo.all_out", database=DB)
    e2e.mssql_rows(devservers, "CREATE TABLE dbo.all_out (a INT, b NVARCHAR(10))", database=DB)
    e2e.mssql_rows(devservers, "INSERT INTO dbo.all_out VALUES (1, N'x'), (2, N'y')", database=DB)
    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(f"version: 1\ndatabase: {DB}\ntables:\n  - {{schema: dbo, name: all_out, "
                           "exclude_columns: [a, b]}\n")
    instance = dg.DagsterInstance.ephemeral()
    with e2e.environ(e2e.product_env(devservers, tmp_path, tables_file)):
        defs = e2e.load_definitions()  # nothing in the file says the columns are all excluded
        result = e2e.run_assets(defs, "*", instance, raise_on_error=False)
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    [failure] = [e.event_specific_data.error for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failure.message.strip() == (
        f"dagster._core.definitions.events.Failure: {tables_file}: table dbo.all_out: exclude_columns: no columns "
        f"left to migrate ({DB}.dbo.all_out has only a, b, all excluded); keep at least one column, or remove the "
        "table from the tables file [extract]")
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert started == {f"raw__{DB}__dbo__all_out"}  # the Iceberg and StarRocks steps never ran
    with e2e.environ(e2e.product_env(devservers, tmp_path, tables_file)):
        lake = settings.iceberg_settings()
    lake.attach(spark)
    for table in ("all_out", "all_out__raw"):
        assert not ice.table_exists(spark, lake.table_name(f"{DB}_dbo", table))
    # No data or metadata file either (the table's run lock is the one file naming it).
    assert [p.parent.name for p in tmp_path.rglob("*all_out*")] == ["locks"]
    assert e2e.starrocks_rows(devservers, "SELECT table_name FROM information_schema.tables "
                                          f"WHERE table_schema = '{DB}_dbo'") == []
