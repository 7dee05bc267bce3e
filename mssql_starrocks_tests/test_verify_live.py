"""`mssql-starrocks verify` and the `verify_<group>` jobs against the stand-ins: the checks of a
migrated table run alone, read every layer live, fail naming the check and both figures when a
layer is broken by hand, say "could not run" when a server is unreachable, and write nothing."""

from __future__ import annotations

import socket
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest

from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks_tests import e2e
from mssql_starrocks_tests.test_cli_errors import block

pytestmark = pytest.mark.integration  # the stand-ins, Spark and `mssql-starrocks` subprocesses

DATABASE = "ci"
CUSTOMERS = f"raw/{DATABASE}/dbo/customers*"  # the chain of dbo.customers
TABLES_FILE = f"""version: 1
database: {DATABASE}
defaults:
  checks: {{schedule: "0 6 * * *", source_lag_tolerance_rows: 5}}
tables:
  - {{schema: dbo, name: customers, key_columns: [customer_id]}}
  - {{schema: dbo, name: event_log}}
"""


@pytest.fixture(scope="module")
def migrated(devservers, tmp_path_factory, spark):
    """dbo.customers migrated (dbo.event_log, in the same group, never materialized)."""
    from mssql_starrocks_devservers import sample

    work = tmp_path_factory.mktemp("verify")
    sample.load(devservers, spec="demo", database=DATABASE)
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_FILE)
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").touch()
    env = e2e.product_env(devservers, work, tables_file, DAGSTER_HOME=str(home))
    with e2e.environ(env):
        defs = e2e.load_definitions()
        result = e2e.run_assets(defs, CUSTOMERS, dg.DagsterInstance.ephemeral())
    assert result.success
    # The test session shares one SparkSession, whose Iceberg catalog is the one the first test
    # that used it configured (Spark keeps a catalog once loaded). `verify` runs in its own
    # process, so it is pointed at the catalog the migration really wrote to.
    table = e2e.materialization_entries(result)[f"iceberg/{DATABASE}/dbo/customers"]["iceberg_table"].value
    catalog_root = Path(urlparse(ice.table_location(spark, table)).path).parents[2]
    assert (catalog_root / "catalog.db").is_file(), catalog_root
    env["ICEBERG_LOCAL_DIR"] = str(catalog_root)
    return {"work": work, "env": env, "defs": defs, "home": home, "devservers": devservers,
            "catalog_db": catalog_root / "catalog.db"}


def _written_state(m) -> dict:
    """Every Iceberg table's metadata location (a commit changes it) and StarRocks' row count."""
    with sqlite3.connect(m["catalog_db"]) as db:
        tables = {f"{ns}.{name}": loc for ns, name, loc in db.execute(
            "SELECT table_namespace, table_name, metadata_location FROM iceberg_tables")}
    rows = e2e.starrocks_rows(m["devservers"], f"SELECT COUNT(*) FROM {DATABASE}_dbo.customers")[0][0]
    return {"iceberg": tables, "starrocks_rows": rows}


def _verify(m, *args: str, **env: str):
    return e2e.cli([e2e.python_bin("mssql-starrocks"), "verify", *args], env={**m["env"], **env}, timeout=900)


def _rows(stdout: str) -> dict[str, list[str]]:
    """check -> its summary row's cells (table, check, result, figures...)."""
    return {line.split()[1]: line.split() for line in stdout.splitlines() if line.startswith(("raw/", "iceberg/", "starrocks/"))}


def test_verify_passes_on_a_migrated_table_reports_a_lag_and_writes_nothing(migrated):
    # SQL Server moves on by 3 rows after the load: within the tolerance of 5, a lag that passes.
    e2e.mssql_rows(migrated["devservers"], "INSERT INTO dbo.customers (full_name, email, city, created_at, balance, "
                   "is_active) SELECT CONCAT(N'late #', value), NULL, NULL, SYSDATETIME(), 1, 1 "
                   "FROM GENERATE_SERIES(1, 3)", database=DATABASE)
    before = _written_state(migrated)
    junit = migrated["work"] / "reports" / "verify.xml"
    done = _verify(migrated, "--select", CUSTOMERS, "--junit-xml", str(junit))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = _rows(done.stdout)
    assert sorted(rows) == ["column_profile_matches_source", "row_count_matches_iceberg", "row_count_matches_raw",
                            "row_count_matches_source", "source_lag_within_tolerance"]
    assert {cells[2] for cells in rows.values()} == {"PASS"}
    assert rows["row_count_matches_iceberg"][3:] == ["iceberg_rows=500,", "starrocks_rows=500"]
    assert "SQL Server has 3 more rows than the Iceberg snapshot of 20" in done.stdout
    assert "verify: all 5 check(s) passed" in done.stdout
    assert _written_state(migrated) == before  # no Iceberg commit, no StarRocks row
    suite = ET.parse(junit).getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 5 and {c.get("name") for c in cases} == set(rows)
    assert (suite.get("failures"), suite.get("errors")) == ("0", "0")
    # Recorded in DAGSTER_HOME as asset check evaluations of a run that materialized nothing.
    instance = dg.DagsterInstance.from_config(str(migrated["home"]))
    run = instance.get_runs(limit=1)[0]
    assert len(instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)) == 5
    assert not instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)


def test_the_checks_only_job_of_a_group_says_not_loaded_yet_for_a_table_never_materialized(migrated):
    defs = migrated["defs"]
    assert defs.resolve_schedule_def(f"verify_{DATABASE}_dbo_schedule").cron_schedule == "0 6 * * *"
    with e2e.environ(migrated["env"]):
        result = defs.resolve_job_def(f"verify_{DATABASE}_dbo").execute_in_process(
            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success
    assert not e2e.materializations(result)
    checks = e2e.check_results(result)
    assert len(checks) == 10
    customers = {k: v for k, v in checks.items() if "/customers:" in k}
    assert all(v.passed for v in customers.values()), {k: v.description for k, v in customers.items()}
    event_log = {k: v for k, v in checks.items() if "/event_log:" in k}
    assert len(event_log) == 5
    for key, ev in event_log.items():
        assert not ev.passed and ev.severity == dg.AssetCheckSeverity.WARN, key
        assert ev.description.startswith("not loaded yet: "), (key, ev.description)


def _ci_commands(path) -> list[str]:
    """The validate and verify commands of a CI example, in order."""
    import yaml

    doc = yaml.safe_load(path.read_text())
    if "jobs" in doc:  # GitHub Actions
        lines = [line for job in doc["jobs"].values() for step in job["steps"] for line in
                 step.get("run", "").splitlines()]
    else:  # GitLab CI
        lines = [line for job in doc.values() if isinstance(job, dict) for line in job.get("script", [])]
    return [line.strip() for line in lines if "definitions validate" in line or "mssql-starrocks verify" in line]


def test_the_ci_examples_validate_without_secrets_then_verify_with_them(migrated, tmp_path):
    import os
    import subprocess

    github = _ci_commands(e2e.ROOT / "examples" / "ci" / "github-actions.yml")
    assert github == _ci_commands(e2e.ROOT / "examples" / "ci" / "gitlab-ci.yml")
    validate, verify = github
    assert validate == ".venv/bin/dagster definitions validate -w workspace.yaml"
    assert verify == ".venv/bin/mssql-starrocks verify --junit-xml reports/verify.xml"
    bin_dir = str(e2e.ROOT / ".venv" / "bin") + "/"
    no_secrets = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "JAVA_HOME")}
    # The repository's tables file: the migrated table only (a table never loaded fails verify).
    tables_file = tmp_path / "tables.yaml"
    tables_file.write_text(TABLES_FILE.split("  - {schema: dbo, name: event_log}")[0])
    no_secrets["MSSQL_STARROCKS_TABLES_FILE"] = str(tables_file)
    done = subprocess.run(validate.replace(".venv/bin/", bin_dir).split(), cwd=e2e.ROOT, env=no_secrets,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "All code locations passed validation" in done.stderr + done.stdout, \
        done.stderr[-3000:]
    done = subprocess.run(verify.replace(".venv/bin/", bin_dir).split(), cwd=tmp_path,
                          env={**os.environ, **migrated["env"], "MSSQL_STARROCKS_TABLES_FILE": str(tables_file)},
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert len(list(ET.parse(tmp_path / "reports" / "verify.xml").getroot().iter("testcase"))) == 5
    assert "verify: all 5 check(s) passed" in done.stdout


def test_verify_fails_naming_the_check_and_both_figures_after_a_row_is_deleted_in_starrocks(migrated):
    e2e.starrocks_rows(migrated["devservers"], f"DELETE FROM {DATABASE}_dbo.customers WHERE customer_id = 1")
    junit = migrated["work"] / "broken.xml"
    done = _verify(migrated, "--select", CUSTOMERS, "--junit-xml", str(junit))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    row = _rows(done.stdout)["row_count_matches_iceberg"]
    assert row[:3] == [f"starrocks/{DATABASE}/dbo/customers", "row_count_matches_iceberg", "FAIL"]
    assert row[3:] == ["iceberg_rows=500,", "starrocks_rows=499"]
    assert "    iceberg_rows = 500 but starrocks_rows = 499 (difference +1)" in done.stdout.splitlines()
    assert "verify: 1 of 5 check(s) did not pass (1 FAIL)" in done.stdout
    fields = block(done, "verify")  # then the closing block on stderr
    assert fields["what failed"] == f"starrocks/{DATABASE}/dbo/customers, check row_count_matches_iceberg (FAIL)"
    assert fields["why"] == "iceberg_rows = 500 but starrocks_rows = 499 (difference +1)"
    assert f"mssql-starrocks run --select 'starrocks/{DATABASE}/dbo/customers'" in fields["what to do"]
    failed = [c for c in ET.parse(junit).getroot().iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["row_count_matches_iceberg"]
    assert failed[0].find("failure").get("message") == "iceberg_rows = 500 but starrocks_rows = 499 (difference +1)"


def test_verify_cannot_run_when_starrocks_is_unreachable(migrated):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    done = _verify(migrated, "--select", CUSTOMERS, STARROCKS_QUERY_PORT=str(closed))
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout == ""
    fields = block(done, "verify", "could not run")  # the only thing printed
    assert done.stderr.startswith("mssql-starrocks verify could not run\n"), done.stderr
    assert fields["what failed"] == "StarRocks" and fields["why"].startswith("StarRocks unreachable: "), fields
    assert "STARROCKS_HOST / STARROCKS_QUERY_PORT" in fields["what to do"] and "Traceback" not in done.stderr
    assert migrated["devservers"]["STARROCKS_PASSWORD"] not in done.stderr
