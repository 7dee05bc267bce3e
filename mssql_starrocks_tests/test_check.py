"""`mssql-starrocks check` asks what the run will need, with the run's settings: the StarRocks
HTTP login a Stream Load uses (a wrong STARROCKS_PASSWORD fails it), the Iceberg catalog type
against the warehouse's scheme, and SQL Server's TLS trust (test_trust.py)."""

from __future__ import annotations

import re

import pytest

from mssql_starrocks.lake.iceberg import IcebergSettings
from mssql_starrocks_tests.test_cli import mssql_starrocks


def test_a_local_catalog_with_an_s3_warehouse_is_refused_naming_both_settings():
    with pytest.raises(ValueError, match="ICEBERG_CATALOG_TYPE=local cannot use the S3 warehouse "
                                         "ICEBERG_WAREHOUSE=s3://bucket/iceberg"):
        IcebergSettings(catalog_type="local", warehouse="s3://bucket/iceberg")
    IcebergSettings(catalog_type="local", warehouse="file:///tmp/warehouse")  # a local warehouse is fine


def test_check_fails_a_wrong_starrocks_password_and_a_catalog_that_cannot_use_its_warehouse(devservers, tmp_path):
    env = {**devservers, "MSSQL_DATABASE": "master", "ICEBERG_CATALOG_TYPE": "local", "ICEBERG_LOCAL_DIR": str(tmp_path / "iceberg"),
           "ICEBERG_WAREHOUSE": "s3://warehouse/iceberg", "STARROCKS_PASSWORD": "not-the-password"}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    done = mssql_starrocks(["--env-file", str(env_file), "check"])
    assert done.returncode == 1, done.stdout + done.stderr
    lines = {line[5:27].strip(): line for line in done.stdout.splitlines()}
    assert lines["SQL Server"].startswith("OK")
    catalog = lines["Iceberg catalog"]
    assert catalog.startswith("FAIL") and "ICEBERG_CATALOG_TYPE=local" in catalog and "ICEBERG_WAREHOUSE" in catalog
    http = lines["StarRocks (HTTP)"]
    assert http.startswith("FAIL") and "HTTP 401" in http and "STARROCKS_PASSWORD" in http, http
    assert "not-the-password" not in done.stdout + done.stderr

    # With the right password the HTTP line says the user is accepted by the Stream Load API.
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**env, "STARROCKS_PASSWORD": devservers["STARROCKS_PASSWORD"],
                                                           "ICEBERG_WAREHOUSE": ""}.items()))
    done = mssql_starrocks(["--env-file", str(env_file), "check"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"accepts user {devservers['STARROCKS_USER']} (Stream Load API, HTTP 200)" in done.stdout


def _lines(done) -> dict[str, list[str]]:
    """check's lines by what they check (several "StarRocks rights" lines: one per database)."""
    found: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        if line[:4] in ("OK  ", "FAIL", "SKIP"):
            found.setdefault(line[5:27].strip(), []).append(line)
    return found


def _admin(devservers, *statements):
    import pymysql

    conn = pymysql.connect(host=devservers["STARROCKS_HOST"], port=int(devservers["STARROCKS_QUERY_PORT"]),
                           user=devservers["STARROCKS_USER"], password=devservers["STARROCKS_PASSWORD"],
                           autocommit=True)
    try:
        with conn.cursor() as cur:
            rows = []
            for sql in statements:
                cur.execute(sql)
                rows = list(cur.fetchall()) if cur.description else []
            return rows
    finally:
        conn.close()


@pytest.mark.integration  # subprocesses, Spark
def test_check_and_run_agree_on_the_right_to_create_tables_and_check_leaves_nothing_behind(devservers, tmp_path):
    """A StarRocks user without CREATE TABLE: `check` fails naming the database, the privilege and the
    GRANT, and a run with that user fails too (check no longer says OK where the run fails). Granted,
    `check` passes and leaves no probe table; a database missing and not creatable is reported the same way."""
    import uuid

    from mssql_starrocks_devservers import sample

    database = f"rights{uuid.uuid4().hex[:6]}"
    target = f"{database}_dbo"
    sample.load(devservers, spec="demo", database=database)
    user, password = f"loader_{uuid.uuid4().hex[:6]}", "Loader-pw-1"
    _admin(devservers, f"CREATE DATABASE {target}", f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
           f"GRANT SELECT, INSERT, DELETE, ALTER, DROP ON ALL TABLES IN DATABASE {target} TO USER '{user}'@'%'")
    env = {**devservers, "MSSQL_DATABASE": database, "STARROCKS_USER": user, "STARROCKS_PASSWORD": password,
           "ICEBERG_CATALOG_TYPE": "local", "ICEBERG_LOCAL_DIR": str(tmp_path / "iceberg"), "ICEBERG_WAREHOUSE": ""}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    found = mssql_starrocks(["discover", "--schema", "dbo"], cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    try:
        checked = mssql_starrocks(["check"], cwd=tmp_path)
        assert checked.returncode == 1, checked.stdout + checked.stderr
        rights = _lines(checked)["StarRocks rights"]
        assert len(rights) == 1, rights
        assert rights[0].startswith(f"FAIL StarRocks rights       user {user} may not create tables in StarRocks "
                                    f"database {target}: starrocks://"), rights[0]
        assert (f"error 5203: Access denied; you need (at least one of) the CREATE TABLE privilege(s) on DATABASE "
                f"{target} for this operation.; missing privilege") in rights[0]
        assert rights[0].endswith(f"; missing privilege: CREATE TABLE on DATABASE {target}. Ask the StarRocks "
                                  f"administrator to run: GRANT CREATE TABLE ON DATABASE `{target}` TO USER "
                                  f"'{user}'@'%'"), rights[0]
        assert password not in checked.stdout + checked.stderr
        assert _lines(checked)["Spark + jars"][0].startswith("OK   Spark + jars           local[*] Spark ")

        home = tmp_path / "home"
        home.mkdir()
        (home / "dagster.yaml").touch()
        ran = mssql_starrocks(["run", "--select", f"raw/{database}/dbo/customers*"], cwd=tmp_path,
                              env={"DAGSTER_HOME": str(home)}, timeout=900)
        assert ran.returncode == 1, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert f"what failed: {database}.dbo.customers, step starrocks load" in ran.stderr, ran.stderr[-3000:]
        assert (f"error 5203: Access denied; you need (at least one of) the CREATE TABLE privilege(s) on DATABASE "
                f"{target} for this operation.") in ran.stderr
        assert ("what to do:  ask the administrator of that server to grant the privilege the message names (for "
                "StarRocks, `mssql-starrocks check` prints the GRANT statement), then run again") in ran.stderr
        log = re.search(r"details:\s+(\S+\.log)", ran.stderr).group(1)
        assert "[starrocks load; privilege: not retried]" in (tmp_path / log).read_text()  # permanent: one attempt

        _admin(devservers, f"GRANT CREATE TABLE ON DATABASE {target} TO USER '{user}'@'%'")
        checked = mssql_starrocks(["check"], cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert _lines(checked)["StarRocks rights"] == [
            f"OK   StarRocks rights       {target}: user {user} may create, Stream Load into, read, alter and "
            "drop tables"]
        assert _admin(devservers, f"SHOW TABLES FROM {target} LIKE '\\_mssql\\_starrocks\\_probe\\_%'") == []

        # The database missing and the user without CREATE DATABASE: the check says so, creates nothing.
        _admin(devservers, f"DROP DATABASE {target}")
        checked = mssql_starrocks(["check"], cwd=tmp_path)
        assert checked.returncode == 1
        rights = _lines(checked)["StarRocks rights"][0]
        assert f"user {user} may not create the database in StarRocks database {target}" in rights
        assert "missing privilege: CREATE DATABASE on CATALOG default_catalog" in rights
        assert f"GRANT CREATE DATABASE ON CATALOG default_catalog TO USER '{user}'@'%'" in rights
        assert (target,) not in _admin(devservers, "SHOW DATABASES")
        # Allowed to create it: the probe creates it, probes inside it and drops it again.
        _admin(devservers, f"GRANT CREATE DATABASE ON CATALOG default_catalog TO USER '{user}'@'%'",
               f"GRANT CREATE TABLE, DROP ON ALL DATABASES TO USER '{user}'@'%'",
               f"GRANT SELECT, INSERT, DELETE, ALTER, DROP ON ALL TABLES IN ALL DATABASES TO USER '{user}'@'%'")
        checked = mssql_starrocks(["check"], cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert _lines(checked)["StarRocks rights"] == [
            f"OK   StarRocks rights       {target}: user {user} may create, Stream Load into, read, alter and "
            "drop tables; the database does not exist yet: the user may create it (the run does), and the probe "
            "dropped it again"]
        assert (target,) not in _admin(devservers, "SHOW DATABASES")
    finally:
        _admin(devservers, f"DROP USER IF EXISTS '{user}'@'%'", f"DROP DATABASE IF EXISTS {target}")


@pytest.mark.integration  # subprocesses starting Spark
def test_check_fails_a_missing_jar_naming_it_and_the_command_that_fetches_it(devservers, tmp_path):
    """check names the missing jar and the command that fetches it; a run fails the same way, once."""
    from mssql_starrocks.lib.spark import DEFAULT_JARS_DIR
    from mssql_starrocks_devservers import sample

    jars = tmp_path / "jars"
    jars.mkdir()
    for jar in DEFAULT_JARS_DIR.glob("*.jar"):
        if not jar.name.startswith("mssql-jdbc-"):
            (jars / jar.name).symlink_to(jar.resolve())
    sample.load(devservers, spec="demo", database="nojar")
    env = {**devservers, "MSSQL_DATABASE": "nojar", "ICEBERG_CATALOG_TYPE": "local",
           "ICEBERG_LOCAL_DIR": str(tmp_path / "iceberg"), "ICEBERG_WAREHOUSE": "", "MSSQL_STARROCKS_JARS_DIR": str(jars)}
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    checked = mssql_starrocks(["check"], cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert _lines(checked)["Spark + jars"] == [
        f"FAIL Spark + jars           Spark jars missing in {jars}: mssql-jdbc. Run `jars/fetch.sh` (it fetches the "
        "versions pinned in jars/pom.xml with Maven)."]

    assert mssql_starrocks(["discover", "--schema", "dbo"], cwd=tmp_path).returncode == 0
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").touch()
    ran = mssql_starrocks(["run", "--select", "raw/nojar/dbo/customers"], cwd=tmp_path, env={"DAGSTER_HOME": str(home)})
    assert ran.returncode == 1, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "what failed: nojar.dbo.customers, step extract" in ran.stderr, ran.stderr[-3000:]
    assert f"Spark jars missing in {jars}: mssql-jdbc. Run `jars/fetch.sh`" in ran.stderr
    log = re.search(r"details:\s+(\S+\.log)", ran.stderr).group(1)
    assert "[extract; bad configuration: not retried]" in (tmp_path / log).read_text()
