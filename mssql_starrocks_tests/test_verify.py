"""`mssql-starrocks verify`, its pure parts: the tables file's checks settings, the source lag's
classification, the summary table, the JUnit report and the exit code (no servers)."""

import datetime as dt
import xml.etree.ElementTree as ET

import dagster as dg
import pytest

from mssql_starrocks import verify as vf
from mssql_starrocks.defs.migration.checks import NOT_LOADED, not_loaded, source_lag_result
from mssql_starrocks.lib.config import TablesFileError, load_tables_file, plans

SNAPSHOT_TIME = dt.datetime(2026, 12, 1, 2, 0, 5)


def write(tmp_path, text: str):
    path = tmp_path / "tables.yaml"
    path.write_text(text)
    return path


def test_checks_settings_default_and_override_field_by_field(tmp_path):
    path = write(tmp_path, "database: d\ndefaults: {checks: {source_lag_tolerance_rows: 100, schedule: '0 3 * * *'}}\n"
                           "tables:\n  - {schema: dbo, name: a, checks: {source_lag_tolerance_percent: 5}}\n"
                           "  - {schema: dbo, name: b}\n")
    a, b = plans(load_tables_file(path))
    assert (a.checks.source_lag_tolerance_rows, a.checks.source_lag_tolerance_percent) == (100, 5.0)
    assert a.checks.schedule == b.checks.schedule == "0 3 * * *"
    assert a.checks.lag_tolerance(10_000) == 500 and a.checks.lag_tolerance(1_000) == 100
    assert b.checks.lag_tolerance(10_000) == 100
    assert plans(load_tables_file(write(tmp_path, "database: d\ntables:\n  - {schema: dbo, name: a}\n")))[0] \
        .checks.lag_tolerance(10**9) == 0


@pytest.mark.parametrize("body,expected", [
    ("database: d\ntables:\n  - {schema: dbo, name: t, checks: {source_lag_tolerance_rows: -1}}\n",
     "table dbo.t: checks.source_lag_tolerance_rows: Input should be greater than or equal to 0"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, checks: {source_lag_tolerance_percent: 150}}\n",
     "table dbo.t: checks.source_lag_tolerance_percent: Input should be less than or equal to 100"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, checks: {source_lag_rows: 5}}\n",
     "table dbo.t: checks.source_lag_rows: Extra inputs are not permitted"),
    ("database: d\ndefaults: {checks: {schedule: 'daily'}}\ntables:\n  - {schema: dbo, name: t}\n",
     "defaults.checks.schedule: 'daily' is not a valid cron schedule"),
    ("database: d\ntables:\n  - {schema: dbo, name: t, checks: {schedule: '0 3 * * *'}}\n",
     "table dbo.t: checks: schedule is set per group in defaults.checks.schedule, not per table"),
])
def test_bad_checks_settings_are_refused_naming_table_and_field(tmp_path, body, expected):
    with pytest.raises(TablesFileError) as err:
        load_tables_file(write(tmp_path, body))
    assert expected in str(err.value)


def test_a_source_ahead_of_the_lake_is_a_lag_with_warn_severity():
    within = source_lag_result(source_rows=11_204, snapshot_rows=10_000, snapshot_time=SNAPSHOT_TIME,
                               tolerance=2_000, where="w")
    assert within.passed and within.severity == dg.AssetCheckSeverity.WARN
    assert within.description.startswith(
        "SQL Server has 1,204 more rows than the Iceberg snapshot of 2026-12-01 02:00:05 UTC (11,204 vs 10,000")
    beyond = source_lag_result(source_rows=11_204, snapshot_rows=10_000, snapshot_time=SNAPSHOT_TIME,
                               tolerance=0, where="w")
    assert not beyond.passed and beyond.severity == dg.AssetCheckSeverity.WARN
    assert "tolerance 0, exceeded" in beyond.description
    assert beyond.metadata["lag_rows"].value == 1_204
    fewer = source_lag_result(source_rows=9_990, snapshot_rows=10_000, snapshot_time=SNAPSHOT_TIME,
                              tolerance=10, where="w")
    assert fewer.passed and "SQL Server has 10 fewer rows" in fewer.description
    same = source_lag_result(source_rows=5, snapshot_rows=5, snapshot_time=SNAPSHOT_TIME, tolerance=0, where="w")
    assert same.passed and same.description == "SQL Server and the Iceberg snapshot of 2026-12-01 02:00:05 UTC both have 5 rows"


def test_not_loaded_is_a_failed_warn_check():
    result = not_loaded("lake.demo_dbo.t has no snapshot")
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.description.startswith(f"{NOT_LOADED}: lake.demo_dbo.t has no snapshot")


def _outcomes():
    return [
        vf.CheckOutcome("iceberg/demo/dbo/t", "source_lag_within_tolerance", vf.PASS,
                        "SQL Server has 3 more rows than the Iceberg snapshot of X", {"sql_server_rows": 1003,
                                                                                       "iceberg_rows": 1000,
                                                                                       "lag_rows": 3}),
        vf.CheckOutcome("starrocks/demo/dbo/t", "row_count_matches_iceberg", vf.FAIL,
                        "iceberg_rows = 1000 but starrocks_rows = 990 (difference +10)",
                        {"iceberg_rows": 1000, "starrocks_rows": 990}),
        vf.CheckOutcome("raw/demo/dbo/u", "row_count_matches_source", vf.WARN, "not loaded yet: x", {}),
        vf.CheckOutcome("raw/demo/dbo/v", "row_count_matches_source", vf.PASS, "a = b = 7",
                        {"sql_server_rows": 7, "landed_rows": 7}),
    ]


def test_summary_shows_each_check_with_both_figures_and_why_it_failed():
    text = vf.format_summary(_outcomes())
    lines = text.splitlines()
    assert lines[0].split() == ["table", "check", "result", "figures"]
    row = next(line for line in lines if "row_count_matches_iceberg" in line)
    assert row.split()[:3] == ["starrocks/demo/dbo/t", "row_count_matches_iceberg", "FAIL"]
    assert row.endswith("iceberg_rows=1,000, starrocks_rows=990")
    assert lines[lines.index(row) + 1] == "    iceberg_rows = 1000 but starrocks_rows = 990 (difference +10)"
    assert "    SQL Server has 3 more rows than the Iceberg snapshot of X" in lines  # a passing lag says so
    assert "    a = b = 7" not in lines  # a plain pass does not
    assert lines[-1] == "verify: 2 of 4 check(s) did not pass (1 FAIL, 1 WARN)"
    # the result column is aligned
    rows = [line for line in lines if line.split()[0] in {o.asset for o in _outcomes()}]
    assert len(rows) == 4 and len({line.index(line.split()[2], len(line.split()[0]) + len(line.split()[1]))
                                   for line in rows}) == 1


def test_exit_codes():
    passed = [o for o in _outcomes() if o.passed]
    assert vf.exit_code(passed) == 0
    assert vf.exit_code(_outcomes()) == 1
    assert vf.exit_code([*passed, vf.errored(dg.AssetCheckKey(dg.AssetKey(["a"]), "c"), "boom")]) == 2
    assert vf.exit_code([]) == 2
    assert vf.verdict(passed) == "verify: all 2 check(s) passed"


def test_junit_report_has_one_case_per_check_and_failures_carry_the_description(tmp_path):
    outcomes = [*_outcomes(), vf.errored(dg.AssetCheckKey(dg.AssetKey(["a"]), "c"), "connection refused")]
    path = tmp_path / "out" / "verify.xml"
    vf.write_junit(outcomes, path)
    suite = ET.parse(path).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("5", "2", "1")
    cases = suite.findall("testcase")
    assert [(c.get("classname"), c.get("name")) for c in cases] == [(o.asset, o.check) for o in outcomes]
    failure = cases[1].find("failure")
    assert failure.get("message") == "iceberg_rows = 1000 but starrocks_rows = 990 (difference +10)"
    assert failure.get("type") == "FAIL" and cases[2].find("failure").get("type") == "WARN"
    assert cases[0].find("failure") is None and cases[3].find("failure") is None
    assert cases[4].find("error").get("message") == "connection refused"
    assert "iceberg_rows=1,000, starrocks_rows=990" in cases[1].find("system-out").text


def test_outcome_of_an_evaluation_reads_status_and_figures():
    key = dg.AssetCheckKey(dg.AssetKey(["starrocks", "d", "t"]), "row_count_matches_iceberg")
    ev = dg.AssetCheckEvaluation(asset_key=key.asset_key, check_name=key.name, passed=False,
                                 severity=dg.AssetCheckSeverity.ERROR, description="d",
                                 metadata={"iceberg_rows": dg.MetadataValue.int(3),
                                           "starrocks_rows": dg.MetadataValue.int(2),
                                           "where": dg.MetadataValue.text("x")})
    assert vf.outcome_of(ev) == vf.CheckOutcome("starrocks/d/t", "row_count_matches_iceberg", vf.FAIL, "d",
                                                {"iceberg_rows": 3, "starrocks_rows": 2})


def test_run_checks_executes_only_the_checks_and_a_check_that_raises_is_an_error():
    @dg.asset
    def table():
        raise AssertionError("a checks-only run must not materialize")

    @dg.asset_check(asset=table)
    def counts_match():
        return dg.AssetCheckResult(passed=True, metadata={"left": 3, "right": 3})

    @dg.asset_check(asset=table)
    def server_down():
        raise ConnectionError("StarRocks 127.0.0.1:9 refused the connection\nmore detail")

    defs = dg.Definitions(assets=[table], asset_checks=[counts_match, server_down])
    keys = [dg.AssetCheckKey(table.key, "counts_match"), dg.AssetCheckKey(table.key, "server_down")]
    run_id, outcomes = vf.run_checks(defs, [table.key], keys, dg.DagsterInstance.ephemeral())
    assert run_id
    assert outcomes[0] == vf.CheckOutcome("table", "counts_match", vf.PASS, "", {"left": 3, "right": 3})
    assert outcomes[1].status == vf.ERROR
    assert outcomes[1].description == "ConnectionError: StarRocks 127.0.0.1:9 refused the connection"
    assert vf.exit_code(outcomes) == vf.EXIT_NOT_RUN
