"""`mssql-starrocks` as a user runs it (subprocesses): every command's help, `plan` against the
stand-ins (its DDL executed by StarRocks), the README's walk-through from `.env` to a first
materialization, and `mssql-starrocks demo`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import click
import dagster as dg
import pytest

from mssql_starrocks import cli
from mssql_starrocks_tests import e2e

ROOT = e2e.ROOT


def words(text: str) -> str:
    return " ".join(text.split())


def mssql_starrocks(args: list[str], env: dict[str, str] | None = None, cwd=None, timeout: int = 600):
    import os
    import subprocess

    return subprocess.run([e2e.python_bin("mssql-starrocks"), *args], cwd=cwd or ROOT,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)


@pytest.mark.integration  # a subprocess
def test_help_of_the_entry_point_and_every_command_explains_each_option():
    commands = dict(cli.main.commands)
    assert set(commands) == {"check", "discover", "plan", "types", "run", "verify", "demo"}
    top = mssql_starrocks(["--help"])
    assert top.returncode == 0, top.stderr
    text = words(top.stdout)
    assert "Usage: mssql-starrocks [OPTIONS] COMMAND [ARGS]..." in text
    assert "--env-file TEXT Read settings from this .env file" in text
    for name, command in commands.items():
        assert re.search(rf"\b{name}\s+\S", top.stdout), f"{name} is not listed with its summary"
    for name, command in commands.items():
        done = mssql_starrocks([name, "--help"])
        assert done.returncode == 0, done.stderr
        text = words(done.stdout)
        first_line = words(command.help.split("\n\n")[0])
        assert first_line in text, name
        options = [p for p in command.params if isinstance(p, click.Option)]
        for option in options:
            assert option.help and len(option.help.split()) >= 3, f"{name} {option.opts}: no explanation"
            flags = ", ".join(sorted(option.opts, key=lambda o: len(o) - len(o.lstrip("-"))))  # as click lists them
            assert flags in done.stdout, (name, flags)
            # the flag is followed (after its metavar) by its explanation
            assert re.search(re.escape(flags) + r"( [A-Z]+)? " + re.escape(words(option.help)[:30]), text), \
                (name, flags, text)
        for argument in (p for p in command.params if isinstance(p, click.Argument)):
            assert f"Usage: mssql-starrocks {name} [OPTIONS] {argument.name.upper()}" in text
        assert "-h, --help Show this message and exit." in text
    # The numbers in --help are the README's: the demo's command exists.
    assert "mssql-starrocks demo" in words(top.stdout)


# --- against the stand-ins --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def discovered(devservers, tmp_path_factory):
    from mssql_starrocks_devservers import sample

    work = tmp_path_factory.mktemp("cli")
    sample.load(devservers, spec="demo")
    env_file = work / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in devservers.items()))
    tables_file = work / "tables.yaml"
    done = mssql_starrocks(["--env-file", str(env_file), "discover", "--output", str(tables_file)])
    assert done.returncode == 0, done.stderr
    return {"work": work, "env_file": env_file, "tables_file": tables_file, "devservers": devservers}


# dbo.all_types as the README's type table maps it: column -> (SQL Server, Iceberg, StarRocks).
ALL_TYPES_PLAN = {
    "id": ("INT", "int", "INT"), "c_bit": ("BIT", "boolean", "BOOLEAN"),
    "c_tinyint": ("TINYINT", "int", "SMALLINT"), "c_smallint": ("SMALLINT", "int", "SMALLINT"),
    "c_int": ("INT", "int", "INT"), "c_bigint": ("BIGINT", "long", "BIGINT"),
    "c_decimal": ("DECIMAL(38,10)", "decimal(38,10)", "DECIMAL(38,10)"),
    "c_numeric": ("NUMERIC(18,0)", "decimal(18,0)", "DECIMAL(18,0)"),
    "c_money": ("MONEY", "decimal(19,4)", "DECIMAL(19,4)"),
    "c_smallmoney": ("SMALLMONEY", "decimal(10,4)", "DECIMAL(10,4)"),
    "c_float": ("FLOAT", "double", "DOUBLE"), "c_real": ("REAL", "float", "FLOAT"),
    "c_date": ("DATE", "date", "DATE"), "c_time": ("TIME(7)", "string", "VARCHAR(16)"),
    "c_datetime": ("DATETIME", "timestamp", "DATETIME"), "c_smalldatetime": ("SMALLDATETIME", "timestamp", "DATETIME"),
    "c_datetime2": ("DATETIME2(7)", "timestamp", "DATETIME"),
    "c_datetimeoffset": ("DATETIMEOFFSET(7)", "timestamptz", "DATETIME"),
    "c_datetimeoffset_tz_offset_min": ("DATETIMEOFFSET(7)", "int", "SMALLINT"),
    "c_char": ("CHAR(10)", "string", "VARCHAR(30)"), "c_varchar": ("VARCHAR(50)", "string", "VARCHAR(150)"),
    "c_varchar_max": ("VARCHAR(MAX)", "string", "VARCHAR(1048576)"),
    "c_nchar": ("NCHAR(10)", "string", "VARCHAR(30)"), "c_nvarchar": ("NVARCHAR(50)", "string", "VARCHAR(150)"),
    "c_nvarchar_max": ("NVARCHAR(MAX)", "string", "VARCHAR(1048576)"),
    "c_binary": ("BINARY(8)", "binary", "VARBINARY(8)"), "c_varbinary": ("VARBINARY(50)", "binary", "VARBINARY(50)"),
    "c_varbinary_max": ("VARBINARY(MAX)", "binary", "VARBINARY(1048576)"),
    "c_uniqueidentifier": ("UNIQUEIDENTIFIER", "string", "VARCHAR(36)"),
    "c_xml": ("XML", "string", "VARCHAR(1048576)"), "c_rowversion": ("TIMESTAMP", "long", "BIGINT"),
    "_ingested_at": ("(added)", "timestamptz", "DATETIME"), "_dagster_run_id": ("(added)", "string", "VARCHAR(64)"),
    "_source_system": ("(added)", "string", "VARCHAR(512)"), "_source_table": ("(added)", "string", "VARCHAR(1024)"),
}


def _plan_table(stdout: str) -> dict[str, tuple[str, str, str]]:
    lines = stdout.split("\nStarRocks DDL:\n")[0].splitlines()
    header = lines.index(next(line for line in lines if line.startswith("column ")))
    assert re.split(r"\s{2,}", lines[header]) == ["column", "SQL Server", "Iceberg", "StarRocks", "note"]
    rows = {}
    for line in lines[header + 1:]:
        cells = re.split(r"\s{2,}", line.strip())
        rows[cells[0]] = tuple(cells[1:4])
    return rows


def test_plan_shows_every_column_on_every_layer_and_a_ddl_starrocks_accepts(discovered):
    env = {"MSSQL_STARROCKS_TABLES_FILE": str(discovered["tables_file"])}
    args = ["--env-file", str(discovered["env_file"]), "plan"]
    done = mssql_starrocks([*args, "dbo.all_types"], env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == ("demo.dbo.all_types -> Iceberg demo_dbo.all_types -> StarRocks "
                                           "demo_dbo.all_types (primary_key, load mode full, load path stream_load)")
    rows = _plan_table(done.stdout)
    assert rows == ALL_TYPES_PLAN
    assert list(rows) == list(ALL_TYPES_PLAN)
    # Each says where its columns came from; the plans are the same.
    assert done.stdout.splitlines()[1] == (f"columns: as {discovered['tables_file']} lists them (a run reads "
                                           "SQL Server's catalog; `--live` plans from it)")
    live = mssql_starrocks([*args, "dbo.all_types", "--live"], env=env)  # from SQL Server's catalog
    assert live.returncode == 0
    devservers = discovered["devservers"]
    assert live.stdout.splitlines()[1] == (f"columns: SQL Server's catalog (mssql://{devservers['MSSQL_HOST']}:"
                                           f"{devservers['MSSQL_PORT']}/demo), as a run reads them")
    assert live.stdout.splitlines()[:1] + live.stdout.splitlines()[2:] == \
        done.stdout.splitlines()[:1] + done.stdout.splitlines()[2:]

    # The DDL as printed, run by StarRocks: the table it makes has exactly the planned columns.
    ddl = done.stdout.split("\nStarRocks DDL:\n", 1)[1].strip()
    assert ddl.startswith("CREATE TABLE `demo_dbo`.`all_types` (") and "PRIMARY KEY (`id`)" in ddl
    e2e.starrocks_rows(devservers, "DROP DATABASE IF EXISTS cli_plan")
    e2e.starrocks_rows(devservers, "CREATE DATABASE cli_plan")
    e2e.starrocks_rows(devservers, ddl.replace("CREATE TABLE `demo_dbo`.", "CREATE TABLE `cli_plan`.", 1))
    created = e2e.starrocks_rows(devservers, "SELECT column_name, column_type FROM information_schema.columns "
                                             "WHERE table_schema = 'cli_plan' AND table_name = 'all_types' "
                                             "ORDER BY ordinal_position")
    assert [c for c, _ in created] == ["id"] + [c for c in ALL_TYPES_PLAN if c != "id"]  # key first
    for column, column_type in created:
        want = ALL_TYPES_PLAN[column][2].lower()
        got = re.sub(r"^(smallint|int|bigint|tinyint)\(\d+\)$", r"\1", column_type.lower())
        assert got == want, column

    missing = mssql_starrocks([*args, "dbo.nope"], env=env)
    assert missing.returncode != 0 and "dbo.nope is not in the tables file" in missing.stderr
    assert "dbo.all_types" in missing.stderr


def _fill_env_example(devservers: dict[str, str], database: str) -> str:
    """.env.example with each setting filled in for the stand-ins, as step 2 of the README asks."""
    values = {
        "MSSQL_HOST": devservers["MSSQL_HOST"], "MSSQL_PORT": devservers["MSSQL_PORT"], "MSSQL_DATABASE": database,
        "MSSQL_USER": devservers["MSSQL_USER"], "MSSQL_PASSWORD": devservers["MSSQL_PASSWORD"],
        # encrypt=true (the example's default) against the stand-in's self-signed certificate
        "MSSQL_ENCRYPT": "true", "MSSQL_TRUST_SERVER_CERTIFICATE": "true",
        "ICEBERG_CATALOG_TYPE": "glue", "ICEBERG_WAREHOUSE": devservers["GLUE_WAREHOUSE"],
        "AWS_REGION": devservers["AWS_REGION"], "AWS_ACCESS_KEY_ID": devservers["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": devservers["AWS_SECRET_ACCESS_KEY"], "AWS_ENDPOINT_URL": devservers["AWS_ENDPOINT_URL"],
        "STARROCKS_HOST": devservers["STARROCKS_HOST"], "STARROCKS_QUERY_PORT": devservers["STARROCKS_QUERY_PORT"],
        "STARROCKS_HTTP_PORT": devservers["STARROCKS_HTTP_PORT"], "STARROCKS_USER": devservers["STARROCKS_USER"],
        "STARROCKS_PASSWORD": devservers["STARROCKS_PASSWORD"], "SPARK_MASTER": "local[2]",
    }
    out, filled = [], set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^(# )?([A-Z_]+)=", line)
        if m and m.group(2) in values:
            line = f"{m.group(2)}={values[m.group(2)]}"
            filled.add(m.group(2))
        out.append(line)
    assert filled == set(values), set(values) - filled  # every setting the walk-through needs is in the example
    return "\n".join(out) + "\n"


def test_env_example_names_only_settings_the_product_reads():
    source = "\n".join(p.read_text() for p in (ROOT / "mssql_starrocks").rglob("*.py"))
    keys = re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    assert len(keys) >= 20
    aws_sdk = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # read by the AWS SDKs themselves
    assert [k for k in keys if k not in aws_sdk and f'"{k}"' not in source] == []


def test_the_readme_walkthrough_from_env_to_a_first_materialization(devservers, tmp_path):
    """README "Using it on your own SQL Server and StarRocks", steps 2-6, in a fresh directory
    with only `.env` (Glue catalog on the S3 + Glue stand-in, TLS to SQL Server)."""
    import boto3
    from mssql_starrocks_devservers import sample

    database = "walkthrough"
    sample.load(devservers, spec="demo", database=database)
    (tmp_path / ".env").write_text(_fill_env_example(devservers, database))
    checked = mssql_starrocks(["check"], cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = checked.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["OK"] * 4 + ["SKIP", "OK"]  # no tables file yet: no rights probe
    assert [line[5:27].strip() for line in lines] == ["SQL Server", "Iceberg catalog", "StarRocks (SQL)",
                                                      "StarRocks (HTTP)", "StarRocks rights", "Spark + jars"]
    assert "Glue answers, bucket warehouse reachable" in lines[1]
    assert devservers["MSSQL_PASSWORD"] not in checked.stdout

    found = mssql_starrocks(["discover", "--schema", "dbo"], cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == f"wrote tables.yaml: 6 table(s) from {database}"
    planned = mssql_starrocks(["plan", "dbo.customers"], cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert f"CREATE TABLE `{database}_dbo`.`customers`" in planned.stdout

    home = tmp_path / ".local" / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").touch()
    done = mssql_starrocks(["run", "--select", f"raw/{database}/dbo/customers*"], cwd=tmp_path,
                           env={"DAGSTER_HOME": str(home)}, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert re.search(r"^run [0-9a-f-]{36}: 3 asset\(s\) materialized, 5/5 check\(s\) passed$", done.stdout, re.M)
    log = _assert_the_terminal_shows_steps_and_summary_and_no_log_lines(done, f"{database}.dbo.customers", 500, home)
    for secret in ("MSSQL_PASSWORD", "STARROCKS_PASSWORD", "AWS_SECRET_ACCESS_KEY"):
        assert devservers[secret] not in log + done.stdout + done.stderr, secret

    source = e2e.mssql_rows(devservers, "SELECT customer_id FROM dbo.customers ORDER BY 1", database=database)
    target = e2e.starrocks_rows(devservers, f"SELECT customer_id FROM {database}_dbo.customers ORDER BY 1")
    assert target == source and len(source) == 500
    glue = boto3.client("glue", endpoint_url=devservers["AWS_ENDPOINT_URL"], region_name=devservers["AWS_REGION"],
                        aws_access_key_id=devservers["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=devservers["AWS_SECRET_ACCESS_KEY"])
    params = glue.get_table(DatabaseName=f"{database}_dbo", Name="customers")["Table"]["Parameters"]
    assert params["metadata_location"].startswith(devservers["GLUE_WAREHOUSE"] + f"/{database}_dbo")
    # Recorded in DAGSTER_HOME, where `make dagit` finds it.
    instance = dg.DagsterInstance.from_config(str(home))
    runs = instance.get_runs()
    assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
    for layer in ("raw", "iceberg", "starrocks"):
        event = instance.get_latest_materialization_event(dg.AssetKey([layer, database, "dbo", "customers"]))
        assert event is not None and event.run_id == runs[0].run_id


def _assert_the_terminal_shows_steps_and_summary_and_no_log_lines(done, table: str, rows: int, home) -> str:
    """A successful run's output (not a terminal): a line per finished step with its rows, the
    summary table, the closing line; Dagster's event log, Spark's WARNs and the telemetry banner
    are in the log file it names, not on the terminal. Returns the log file's text."""
    out, terminal = done.stdout, done.stdout + done.stderr
    for step in ("extract", "iceberg commit", "starrocks load"):
        assert re.search(rf"^{re.escape(table)}  {step}: {rows:,} rows, [\d,]+ rows/s, [\d.]+s$", out, re.M), step
    assert len(re.findall(rf"^{re.escape(table)}  check \w+: passed$", out, re.M)) == 5
    lines = out.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("table ")))
    assert re.split(r"\s{2,}", lines[header]) == ["table", "raw rows", "iceberg rows", "starrocks rows", "seconds",
                                                  "rows/s", "checks"]
    cells = re.split(r"\s{2,}", lines[header + 1])
    assert cells[:4] == [table, f"{rows:,}", f"{rows:,}", f"{rows:,}"] and cells[-1] == "5 passed", cells
    assert float(cells[4]) > 0 and float(cells[5].replace(",", "")) > 0
    assert re.match(r"^run [0-9a-f-]{36}: 3 asset\(s\) materialized", lines[header + 2])
    for noise in (" - DEBUG - ", "STEP_START", " WARN ", "Telemetry", "Traceback"):
        assert noise not in terminal, noise
    log = re.search(r"Dagster's event log and Spark's output: (\S+\.log)$", out, re.M)
    path = home.parent.parent / log.group(1) if not log.group(1).startswith("/") else Path(log.group(1))
    text = path.read_text()
    assert path.parent == home / "logs" and " - DEBUG - " in text and "STEP_START" in text and " WARN " in text
    return text


@pytest.mark.integration  # a subprocess
def test_the_demo_command_runs_the_demo_on_its_own_stand_ins(tmp_path):
    """`mssql-starrocks demo` (what `make demo` runs) from nothing: its own stand-ins, the sample
    database, discover, and a migration with every check; then the stand-ins are stopped."""
    import sys

    from dotenv import dotenv_values

    state = tmp_path / "state"
    settings = tmp_path / ".env.devservers"
    home = tmp_path / "home"
    try:
        done = mssql_starrocks(["demo", "--state-dir", str(state), "--devservers-env", str(settings),
                                "--tables-file", str(tmp_path / "tables.yaml"), "--dagster-home", str(home),
                                "--iceberg-dir", str(tmp_path / "iceberg"), "--select", "raw/demo/dbo/customers*"],
                               env={"SPARK_MASTER": "local[2]", "SPARK_SHUFFLE_PARTITIONS": "2"}, cwd=tmp_path,
                               timeout=1200)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        out = done.stdout
        for step in ("starting the stand-in servers", "loading the sample database", "discovering the demo database",
                     "migrating raw -> Iceberg -> StarRocks with every check"):
            assert f"demo: {step}" in out
        assert f"wrote {tmp_path / 'tables.yaml'}: 8 table(s) from demo" in out
        assert re.search(r"^run [0-9a-f-]{36}: 3 asset\(s\) materialized, 5/5 check\(s\) passed$", out, re.M)
        assert "make dagit" in out and f"--state-dir {state} down" in out
        values = {k: v for k, v in dotenv_values(settings).items() if v is not None}
        assert e2e.starrocks_rows(values, "SELECT COUNT(*) FROM demo_dbo.customers") == [(500,)]
        assert (tmp_path / "iceberg" / "catalog.db").exists()
        instance = dg.DagsterInstance.from_config(str(home))
        assert [r.status for r in instance.get_runs()] == [dg.DagsterRunStatus.SUCCESS]
    finally:
        stopped = e2e.cli([sys.executable, "-m", "mssql_starrocks_devservers", "--state-dir", str(state), "down"], env={})
        assert stopped.returncode == 0, stopped.stderr
    assert "stopped: s3glue, mssql, starrocks" in stopped.stdout


def test_ctrl_c_stops_the_run_records_it_canceled_says_what_each_target_holds_and_a_rerun_converges(discovered):
    """SIGINT to `mssql-starrocks run` (what Ctrl-C sends) during the extract: exit 130, the run
    CANCELED in DAGSTER_HOME (not left STARTED), each target's state said; the same command again
    ends with StarRocks equal to SQL Server."""
    work = discovered["work"] / "ctrl_c"
    home = work / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("")
    env = {**os.environ, "MSSQL_STARROCKS_TABLES_FILE": str(discovered["tables_file"]), "DAGSTER_HOME": str(home),
           "ICEBERG_LOCAL_DIR": str(work / "iceberg"), "SPARK_MASTER": "local[2]", "SPARK_SHUFFLE_PARTITIONS": "2"}
    args = [e2e.python_bin("mssql-starrocks"), "--env-file", str(discovered["env_file"]), "run", "--select",
            "raw/demo/dbo/customers*"]
    # SIGINT's default action restored in the child: a background job may have inherited "ignore".
    proc = subprocess.Popen(args, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        started = None
        while started is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(1)
            with dg.DagsterInstance.from_config(str(home)) as instance:
                runs = instance.get_runs()
                if runs and instance.all_logs(runs[0].run_id, of_type=dg.DagsterEventType.STEP_START):
                    started = runs[0].run_id
        assert started, "the run never started its first step"
        time.sleep(3)  # inside the extract (Spark starting or reading)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out[-3000:] + err[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        assert run.run_id == started and run.status == dg.DagsterRunStatus.CANCELED
    assert "Traceback" not in out + err and "KeyboardInterrupt" not in out + err
    assert f"mssql-starrocks run was stopped\n  what failed: run {started} (recorded as CANCELED in Dagster)" in err
    assert "demo.dbo.customers -> demo_dbo.customers: landing (raw): " in err
    assert "StarRocks: unchanged (its step had not started)" in err
    assert "a re-run converges" in err

    again = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    source = e2e.mssql_rows(discovered["devservers"], "SELECT customer_id FROM dbo.customers ORDER BY 1", database="demo")
    target = e2e.starrocks_rows(discovered["devservers"], "SELECT customer_id FROM demo_dbo.customers ORDER BY 1")
    assert target == source and len(source) == 500


def test_on_a_terminal_the_run_is_a_live_table_of_each_step(discovered):
    """Under a pseudo-terminal (as in a shell) the run redraws one table in place: a row per
    table, a column per step with its rows, rate and seconds, the checks counted; then the summary."""
    import pty
    import threading

    work = discovered["work"] / "tty"
    home = work / "home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text("")
    env = {**os.environ, "MSSQL_STARROCKS_TABLES_FILE": str(discovered["tables_file"]), "DAGSTER_HOME": str(home),
           "ICEBERG_LOCAL_DIR": str(work / "iceberg"), "SPARK_MASTER": "local[2]", "SPARK_SHUFFLE_PARTITIONS": "2",
           "TERM": "xterm-256color", "COLUMNS": "160", "LINES": "40"}
    master, slave = pty.openpty()
    proc = subprocess.Popen([e2e.python_bin("mssql-starrocks"), "--env-file", str(discovered["env_file"]), "run",
                             "--select", "raw/demo/dbo/customers*"], cwd=work, env=env, stdin=slave, stdout=slave,
                            stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []

    def read():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert proc.wait(timeout=900) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(timeout=10)
        os.close(master)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))
    assert screen.count("┃ table") >= 2, screen[-3000:]  # redrawn, not printed once
    header = next(line for line in screen.splitlines() if "┃ table" in line)
    assert [c.strip() for c in header.strip("┃ ").split("┃")] == ["table", "extract", "iceberg commit", "starrocks load",
                                                                 "checks"]
    final = [line for line in screen.splitlines() if line.startswith("│ demo.dbo.customers")][-1]
    cells = [c.strip() for c in final.strip("│ ").split("│")]
    assert cells[0] == "demo.dbo.customers" and cells[-1] == "5/5", cells
    for cell in cells[1:4]:
        assert re.fullmatch(r"✓ 500 rows  [\d,]+/s  [\d.]+s", cell), cells
    assert re.search(r"^demo\.dbo\.customers +500 +500 +500 ", screen, re.M)  # the summary after it
    for noise in (" - DEBUG - ", " WARN ", "Telemetry", "Traceback"):
        assert noise not in screen, noise
