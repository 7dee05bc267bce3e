"""`mssql-starrocks check` asks what the run will need, with the run's settings: the StarRocks
HTTP login a Stream Load uses (a wrong STARROCKS_PASSWORD fails it), the Iceberg catalog type
against the warehouse's scheme, and SQL Server's TLS trust (test_trust.py)."""

from __future__ import annotations

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
