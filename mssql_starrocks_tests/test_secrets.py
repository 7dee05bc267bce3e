"""Secrets never leave the process: passwords and AWS keys appear in no log, exception, Dagit
metadata, Spark conf dump or JDBC URL, whether a run passes or fails.

Three `dagster asset materialize` runs (one DAGSTER_HOME, the Glue/S3 catalog so that the AWS
keys are really used) and two `mssql-starrocks check` calls are made; then everything they
left behind is collected and searched for every secret value, as is and URL-encoded or
base64-encoded (at any alignment, so a `Basic` auth header or a longer encoded blob is found
too):

* passing: `accounts`, SQL Server -> Iceberg (Glue) -> StarRocks, with its checks;
* failing: SQL Server drops the JDBC connection mid-extract of `accounts` and StarRocks refuses
  every Stream Load of `payments`, both permanently (so the retries run out);
* wrong password: SQL Server refuses the login (extract of `payments`);
* `check` with the right settings, and with wrong SQL Server/StarRocks passwords and AWS secret
  (both logins refused).

Collected: the subprocesses' stdout/stderr, every file under DAGSTER_HOME (raw bytes, and every
row of every SQLite table, compressed snapshot blobs unpacked), every event of every run read
through the instance (metadata, error messages and causes, stack traces), the compute logs,
Spark's event log of each run (what the Spark UI and history server show: the environment
page, SQL plans), the Spark conf the product hands to its session and the session's own
`getConf().getAll()` / `SET` (from a session started as SparkResource starts it), and the
repository snapshot Dagit reads (asset metadata and descriptions, resource config). The wrong
passwords are secrets too: a mistyped password is usually close to the real one.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import sqlite3
import textwrap
import zlib
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import requests

from mssql_starrocks_tests import e2e

DB = "secrets"
NAMESPACE = f"{DB}_dbo"
TABLES = ("accounts", "payments")
TABLES_YAML = textwrap.dedent(f"""\
    version: 1
    database: {DB}
    tables:
      - schema: dbo
        name: accounts
        key_columns: [id]
      - schema: dbo
        name: payments
        key_columns: [id]
    """)
SECRET_NAMES = ("MSSQL_PASSWORD", "STARROCKS_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID")


# --- setup ----------------------------------------------------------------------------------------
def _sql(devservers, statement: str):
    return e2e.mssql_rows(devservers, statement, database=DB)


def _create_source(devservers) -> None:
    e2e.mssql_rows(devservers, f"IF DB_ID('{DB}') IS NULL CREATE DATABASE [{DB}]", database="master")
    for table in TABLES:
        _sql(devservers, f"IF OBJECT_ID('dbo.{table}') IS NOT NULL DROP TABLE dbo.{table}")
        _sql(devservers, f"CREATE TABLE dbo.{table} (id INT NOT NULL PRIMARY KEY, name NVARCHAR(40), qty INT)")
        _sql(devservers, f"INSERT INTO dbo.{table} (id, name, qty) SELECT value, CONCAT(N'row ', value), value % 7 "
                         "FROM GENERATE_SERIES(1, 100)")


def _mssql_fault(devservers, table: str, kind: str, after_rows: int = 0, times: int = 1) -> None:
    _sql(devservers, f"EXEC sys.sp_devservers_fault N'dbo.{table}', N'{kind}', {after_rows}, 100, {times}")


def _starrocks_fault(devservers, table: str, kind: str, times: int = 1) -> None:
    d = devservers
    reply = requests.post(f"http://{d['STARROCKS_HOST']}:{d['STARROCKS_HTTP_PORT']}/api/_devservers/fault",
                          auth=(d["STARROCKS_USER"], d["STARROCKS_PASSWORD"]), timeout=10,
                          json={"db": NAMESPACE, "table": table, "kind": kind, "times": times, "delay_ms": 0})
    assert reply.json()["status"] == "OK"


def _materialize(env: dict[str, str], home: Path, selection: str) -> tuple[str, object]:
    """One `dagster asset materialize` run; returns (run id, the finished subprocess)."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    def run_ids() -> set[str]:
        with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
            return {r.run_id for r in instance.get_runs()}

    before = run_ids()
    done = e2e.cli([e2e.python_bin("dagster"), "asset", "materialize", "-m", "mssql_starrocks.definitions",
                    "--select", selection], env=env, timeout=900)
    new = run_ids() - before
    assert len(new) == 1, f"expected one new run in {home}, got {new}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return new.pop(), done


# --- collecting -----------------------------------------------------------------------------------
def _cell_text(value) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            raw = zlib.decompress(raw)  # Dagster stores job/execution-plan snapshots compressed
        except zlib.error:
            pass
        return raw.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _sqlite_rows(path: Path, label: str) -> list[tuple[str, str]]:
    out = []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return out
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cur = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cur.description]
            for n, row in enumerate(cur):
                text = "\t".join(f"{c}={_cell_text(v)}" for c, v in zip(columns, row))
                out.append((f"{label} (SQLite table {table}, row {n})", text))
    except sqlite3.DatabaseError:
        pass
    finally:
        conn.close()
    return out


def _home_files(home: Path) -> list[tuple[str, str]]:
    """Every file under DAGSTER_HOME as text; SQLite databases also row by row (a long value can
    straddle overflow pages in the raw file)."""
    out = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        label = f"DAGSTER_HOME/{path.relative_to(home)}"
        data = path.read_bytes()
        out.append((label, data.decode("utf-8", "replace")))
        if data.startswith(b"SQLite format 3\x00"):
            out.extend(_sqlite_rows(path, label))
    return out


def _run_events(home: Path, runs: dict[str, str]) -> tuple[list[tuple[str, str]], dict[str, dict]]:
    """Every event of every run, serialized whole (metadata, errors with causes and stacks)."""
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes import serialize_value

    out, facts = [], {}
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        for scenario, run_id in runs.items():
            record = instance.get_run_by_id(run_id)
            out.append((f"run record of the {scenario} run {run_id}", serialize_value(record)))
            failures: dict[str, str] = {}
            materialized, metadata = set(), {}
            entries = instance.all_logs(run_id)
            for n, entry in enumerate(entries):
                event = entry.dagster_event
                kind = event.event_type_value if event else "LOG"
                step = entry.step_key or "-"
                text = serialize_value(entry) + "\n" + (entry.user_message or "")
                out.append((f"event #{n} {kind} (step {step}) of the {scenario} run {run_id}", text))
                if kind in ("STEP_FAILURE", "STEP_UP_FOR_RETRY"):
                    error, parts = event.event_specific_data.error, []
                    while error is not None:
                        parts.append(error.message)
                        error = error.cause
                    failures[step] = failures.get(step, "") + "\n".join(parts)
                if kind == "ASSET_MATERIALIZATION":
                    mat = event.event_specific_data.materialization
                    materialized.add(mat.asset_key.to_user_string())
                    metadata[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
            facts[scenario] = {"status": record.status.value, "events": len(entries), "failures": failures,
                               "materialized": materialized, "metadata": metadata}
    return out, facts


def _dagit_snapshot(env: dict[str, str]) -> str:
    """What Dagit reads from the code location: assets (metadata, descriptions), resources (config)."""
    from dagster._core.remote_representation.external_data import RepositorySnap
    from dagster._serdes import serialize_value

    with e2e.environ(env):
        defs = e2e.load_definitions()
        return serialize_value(RepositorySnap.from_def(defs.get_repository_def()))


def _spark_conf(env: dict[str, str]) -> str:
    """The conf the product's SparkResource hands to its session, and the catalog conf it attaches
    at run time (no JVM: what the product itself puts into Spark)."""
    from mssql_starrocks import settings
    from mssql_starrocks.defs.migration.resources import migration_resources

    conf = dict(migration_resources(env)["spark"].spark_config)
    conf.update(settings.iceberg_settings(env).spark_conf())
    return json.dumps(conf, indent=1, sort_keys=True)


SPARK_CONF_DUMP = textwrap.dedent("""
    import json
    from mssql_starrocks import settings
    from mssql_starrocks.defs.migration.resources import migration_resources

    spark = migration_resources()["spark"].spark_session  # started exactly as in a run
    settings.iceberg_settings().attach(spark)
    print("GETALL " + json.dumps(sorted(spark.sparkContext.getConf().getAll())))
    print("SET " + json.dumps([tuple(r) for r in spark.sql("SET").collect()]))
    spark.stop()
""")


# --- searching ------------------------------------------------------------------------------------
def _b64_cores(raw: bytes) -> list[str]:
    """base64 text of `raw` as it appears inside any longer base64 blob, at each of the 3 alignments."""
    cores = []
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        core = enc[(8 * k + 5) // 6:((k + len(raw)) * 8) // 6]
        cores += [core, core.replace("+", "-").replace("/", "_")]
    return cores


def secret_forms(value: str, user: str | None = None) -> dict[str, str]:
    """Every form a secret may take in output: as is, URL-/form-/JSON-encoded, base64 (alone or as
    the `user:password` of a Basic auth header)."""
    forms = {"as is": value}
    for how, enc in (("URL-encoded", quote(value, safe="")), ("form-encoded", quote_plus(value))):
        forms[how] = enc
        forms[how + ", lowercase escapes"] = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), enc)
    forms["JSON-escaped"] = json.dumps(value)[1:-1]
    for n, core in enumerate(_b64_cores(value.encode())):
        forms[f"base64 (variant {n})"] = core
    if user is not None:
        forms["Basic auth header (base64 of user:password)"] = base64.b64encode(f"{user}:{value}".encode()).decode()
        for n, core in enumerate(_b64_cores(f"{user}:{value}".encode())):
            forms[f"base64 of user:password (variant {n})"] = core
    unique: dict[str, str] = {}
    for how, text in forms.items():
        if text not in unique.values():
            unique[how] = text
    return unique


def find_secrets(sources: list[tuple[str, str]], secret_values: dict[str, tuple[str, str | None]]) -> list[str]:
    """One line per secret found: which secret, in which form, where; the secret itself redacted."""
    patterns = [(name, how, text) for name, (value, user) in secret_values.items()
                for how, text in secret_forms(value, user).items()]
    redact = sorted(patterns, key=lambda p: -len(p[2]))
    found = []
    for label, text in sources:
        for name, how, needle in patterns:
            at = text.find(needle)
            if at < 0:
                continue
            line = text.count("\n", 0, at) + 1
            context = text[max(0, at - 100):at + len(needle) + 100]
            for other, _, t in redact:
                context = context.replace(t, f"<{other}>")
            found.append(f"{name} ({how}) in {label}, line {line}: ...{context!r}...")
    return found


# --- the runs ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def leaks(devservers, tmp_path_factory):
    work = tmp_path_factory.mktemp("secrets")
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    events_dir = home / "spark-events"
    events_dir.mkdir()
    _create_source(devservers)
    tables_file = work / "tables.yaml"
    tables_file.write_text(TABLES_YAML)
    spark_conf = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": events_dir.as_uri(),
                  "spark.eventLog.compress": "false"}
    env = e2e.product_env(devservers, work, tables_file, DAGSTER_HOME=str(home), SPARK_MASTER="local[1]",
                          SPARK_SHUFFLE_PARTITIONS="1", ICEBERG_CATALOG_TYPE="glue",
                          ICEBERG_WAREHOUSE=devservers["GLUE_WAREHOUSE"],
                          ICEBERG_LOCAL_DIR=str(work / "unused-local-catalog"), MSSQL_DATABASE=DB,
                          SPARK_CONF_JSON=json.dumps(spark_conf))
    wrong = {"MSSQL_PASSWORD": "Sa1!" + secrets.token_urlsafe(12),
             "STARROCKS_PASSWORD": "Sr1!" + secrets.token_urlsafe(12),
             "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30)}
    tables = {t: f"raw/{DB}/dbo/{t}*" for t in TABLES}
    runs, done = {}, {}

    runs["passing"], done["passing run"] = _materialize(env, home, tables["accounts"])

    try:
        _mssql_fault(devservers, "accounts", "drop", after_rows=50, times=0)  # JDBC cut mid-extract
        _starrocks_fault(devservers, "payments", "refuse", times=0)  # every Stream Load refused
        runs["failing"], done["failing run"] = _materialize(env, home, ",".join(tables.values()))
    finally:
        _mssql_fault(devservers, "accounts", "clear")
        _starrocks_fault(devservers, "payments", "clear")

    # Wrong passwords: the extract meets SQL Server's refused login (a permanent failure, no
    # retries); StarRocks' refused login is met by `check` below.
    wrong_env = {**env, "MSSQL_PASSWORD": wrong["MSSQL_PASSWORD"], "STARROCKS_PASSWORD": wrong["STARROCKS_PASSWORD"]}
    runs["wrong-password"], done["wrong-password run"] = _materialize(wrong_env, home, f"raw/{DB}/dbo/payments")

    check = [e2e.python_bin("mssql-starrocks"), "check"]
    done["check"] = e2e.cli(check, env=env, timeout=300)
    done["check with wrong passwords"] = e2e.cli(check, env={**env, **wrong}, timeout=300)
    done["Spark conf dump"] = e2e.cli([e2e.python_bin("python"), "-c", SPARK_CONF_DUMP], env=env, timeout=300)

    sources: list[tuple[str, str]] = []
    for what, proc in done.items():
        sources += [(f"stdout of the {what}", proc.stdout), (f"stderr of the {what}", proc.stderr)]
    sources += _home_files(home)
    events, facts = _run_events(home, runs)
    sources += events
    sources.append(("the repository snapshot Dagit reads", _dagit_snapshot(env)))
    sources.append(("the Spark conf of the product's session", _spark_conf(env)))
    sources.append(("the Spark conf of the product's session (wrong-password run)", _spark_conf(wrong_env)))

    secret_values = {name: (devservers[name], None) for name in SECRET_NAMES}
    secret_values["MSSQL_PASSWORD"] = (devservers["MSSQL_PASSWORD"], devservers["MSSQL_USER"])
    secret_values["STARROCKS_PASSWORD"] = (devservers["STARROCKS_PASSWORD"], devservers["STARROCKS_USER"])
    secret_values["wrong MSSQL_PASSWORD"] = (wrong["MSSQL_PASSWORD"], devservers["MSSQL_USER"])
    secret_values["wrong STARROCKS_PASSWORD"] = (wrong["STARROCKS_PASSWORD"], devservers["STARROCKS_USER"])
    secret_values["wrong AWS_SECRET_ACCESS_KEY"] = (wrong["AWS_SECRET_ACCESS_KEY"], None)
    return {"sources": sources, "runs": runs, "done": done, "facts": facts, "home": home,
            "secret_values": secret_values}


def test_the_search_has_something_to_search(leaks):
    """Not vacuous: every run and command left output, and it holds what those runs are known to say."""
    sources, runs, facts, done = leaks["sources"], leaks["runs"], leaks["facts"], leaks["done"]
    everything = "\n".join(text for _, text in sources)
    assert len(everything) > 100_000
    for scenario, run_id in runs.items():
        assert run_id in everything and facts[scenario]["events"] > 5, scenario
        assert done[f"{scenario} run"].stdout + done[f"{scenario} run"].stderr, scenario
    for table in TABLES:
        assert f"{DB}.dbo.{table}" in everything

    passing = facts["passing"]
    assert passing["status"] == "SUCCESS", passing["failures"]
    assert passing["materialized"] == {f"{layer}/{DB}/dbo/accounts" for layer in ("raw", "iceberg", "starrocks")}
    jdbc_url = passing["metadata"][f"raw/{DB}/dbo/accounts"]["jdbc_url"]
    assert jdbc_url.startswith("jdbc:sqlserver://") and jdbc_url in everything  # the URL the tool shows

    failing = facts["failing"]
    assert failing["status"] == "FAILURE"
    extract = failing["failures"][f"raw__{DB}__dbo__accounts"]
    assert f"{DB}.dbo.accounts" in extract and "extract" in extract
    load = failing["failures"][f"starrocks__{DB}__dbo__payments"]
    assert f"{DB}.dbo.payments" in load and "larger than limit" in load
    assert "the live StarRocks table was left unchanged" in load

    wrong = facts["wrong-password"]
    assert wrong["status"] == "FAILURE"
    login = wrong["failures"][f"raw__{DB}__dbo__payments"]
    assert "Login failed for user" in login and f"{DB}.dbo.payments" in login

    ok, bad = done["check"], done["check with wrong passwords"]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert re.findall(r"^OK\s+(.+?)\s{2,}", ok.stdout, re.M) == [
        "SQL Server", "Iceberg catalog", "StarRocks (SQL)", "StarRocks (HTTP)", "StarRocks rights", "Spark + jars"]
    assert "setLogLevel" not in ok.stdout + ok.stderr  # Spark's banner is in the log file, not on the terminal
    assert bad.returncode == 1
    assert re.search(r"FAIL SQL Server .*Login failed", bad.stdout)
    assert re.search(r"FAIL StarRocks \(SQL\) .*1045", bad.stdout)
    dump = done["Spark conf dump"]
    assert dump.returncode == 0, dump.stdout[-3000:] + dump.stderr[-3000:]
    assert "GETALL " in dump.stdout and "spark.sql.catalog.lake.glue.endpoint" in dump.stdout

    labels = [label for label, _ in sources]
    spark_logs = [text for label, text in sources if label.startswith("DAGSTER_HOME/spark-events/")]
    # four runs, and the two checks (check starts the Spark a run would use, with its event log)
    assert len(spark_logs) == 6 and all("SparkListenerEnvironmentUpdate" in t for t in spark_logs)
    assert any("JDBCRelation" in t for t in spark_logs)  # the extract's SQL plan, as the SQL tab shows it
    assert any("compute_logs" in label for label in labels)
    assert any("SQLite table event_logs" in label for label in labels)
    assert "MSSQL_PASSWORD" in dict(sources)["the repository snapshot Dagit reads"]  # the EnvVar, by name


def test_no_secret_appears_in_any_output(leaks):
    found = find_secrets(leaks["sources"], leaks["secret_values"])
    assert not found, (f"{len(found)} secret occurrence(s) in output (values redacted):\n  "
                       + "\n  ".join(found[:40]))


def test_the_search_finds_a_secret_in_every_form():
    """The detector itself: a planted secret is found as is, URL-encoded and base64-encoded."""
    value, user = "Sr1!" + secrets.token_urlsafe(12), "root"
    planted = {
        "plain": f"password={value};",
        "url": f"http://{user}:{quote(value, safe='')}@host/",
        "basic": "Authorization: Basic " + base64.b64encode(f"{user}:{value}".encode()).decode(),
        "blob": base64.b64encode(b'{"user": "root", "password": "' + value.encode() + b'"}').decode(),
        "clean": "nothing to see here",
    }
    found = find_secrets(list(planted.items()), {"STARROCKS_PASSWORD": (value, user)})
    where = {line.split(" in ", 1)[1].split(",", 1)[0] for line in found}
    assert where == {"plain", "url", "basic", "blob"}
    assert all(value not in line for line in found)
