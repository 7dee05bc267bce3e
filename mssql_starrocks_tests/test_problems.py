"""The closing block of a failed command and the run's summary table, as text (no servers;
test_cli_errors.py runs the commands themselves)."""

from __future__ import annotations

from mssql_starrocks import settings
from mssql_starrocks.lib.config import TablesFileError
from mssql_starrocks.terminal import problems
from mssql_starrocks.terminal.problems import Problem, Problems
from mssql_starrocks.terminal.progress import TableSummary, summary_text


def test_the_block_names_what_failed_why_what_to_do_and_the_log_file():
    p = Problem("tables file t.yaml, table dbo.t, field load_mode", "t.yaml: ... Input should be 'full'\nsecond",
                "correct the tables file")
    assert p.lines("run", ".local/logs/x.log") == [
        "mssql-starrocks run failed",
        "  what failed: tables file t.yaml, table dbo.t, field load_mode",
        "  why:         t.yaml: ... Input should be 'full'",
        "               second",
        "  what to do:  correct the tables file",
        "  details:     .local/logs/x.log (add --verbose to see them here)",
    ]
    assert p.lines("run", "x.log", verbose=True)[-1] == "  details:     x.log"
    assert Problem("a", "b", "c", verb="could not run").lines("verify", None)[0] == "mssql-starrocks verify could not run"

    two = Problems([Problem("d.dbo.a, step extract", "boom", "fix a"), Problem("d.dbo.b, check x", "off", "fix b")])
    lines = two.lines("run", "x.log")
    assert lines[0] == "mssql-starrocks run failed: 2 problems"
    assert "    what failed: d.dbo.a, step extract" in lines and "    what failed: d.dbo.b, check x" in lines
    assert lines[-1] == "  details: x.log (add --verbose to see them here)"


def test_exceptions_become_blocks_by_type_even_when_wrapped():
    missing = problems.of_exception(settings.MissingSettingsError(["MSSQL_PASSWORD", "STARROCKS_USER"]))
    assert (missing.what, missing.why) == ("settings (.env or the environment)",
                                           "missing environment variable(s): MSSQL_PASSWORD, STARROCKS_USER")
    try:  # as Dagster's definitions loader wraps the tables file's error
        try:
            raise TablesFileError("t.yaml: table dbo.t: key_columns: unknown column 'idd' (the table has: id)")
        except TablesFileError as exc:
            raise RuntimeError("Error while building definitions for maintenance/assets.py") from exc
    except RuntimeError as wrapped:
        tables = problems.of_exception(wrapped)
    assert tables.what == "tables file t.yaml, table dbo.t, field key_columns"
    assert tables.why == "t.yaml: table dbo.t: key_columns: unknown column 'idd' (the table has: id)"
    setting = problems.of_exception(ValueError("STARROCKS_LOAD_MAX_MB: 'x' is not a size in MiB"))
    assert setting.what == "setting STARROCKS_LOAD_MAX_MB"
    other = problems.of_exception(KeyError("boom"))
    assert (other.what, other.why) == ("the command", "KeyError: 'boom'")


def test_what_to_do_follows_the_failure_class_and_the_server():
    assert "STARROCKS_USER / STARROCKS_PASSWORD" in problems.todo_for(
        "starrocks://h:9030: (1045, \"Access denied for user 'root'\")")
    assert "MSSQL_USER / MSSQL_PASSWORD" in problems.todo_for("mssql://h:1433/d: Login failed for user 'sa'")
    assert "correct MSSQL_HOST / MSSQL_PORT" in problems.todo_for(
        "cannot connect to mssql://h:1/d as sa: error 20009: Unable to connect ... Connection refused (111)")
    assert "re-run converges" in problems.todo_for("SparkException: Job 3 cancelled as part of cancellation of all jobs")
    assert problems.first_line("dagster._core.definitions.events.Failure: d.dbo.t: boom [extract]\nmore") == \
        "d.dbo.t: boom [extract]"


def test_the_summary_has_a_row_per_table_with_rows_per_layer_seconds_rate_and_checks():
    done = TableSummary("demo.dbo.customers", {"raw": 120000, "iceberg": 120000, "starrocks": 120000}, 30.0, 5, 0)
    partial = TableSummary("demo.dbo.orders", {"raw": 10, "iceberg": None}, 2.5, 1, 1, ["iceberg commit"])
    assert summary_text([done, partial]).splitlines() == [
        "table               raw rows  iceberg rows  starrocks rows  seconds  rows/s  checks",
        "demo.dbo.customers   120,000       120,000         120,000     30.0   4,000  5 passed",
        "demo.dbo.orders           10             -               -      2.5       4  1 passed, 1 failed",
    ]
