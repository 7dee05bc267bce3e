"""Permanent failures are not retried (lib/failures.py lists their classes; the step wrapper in
defs/migration/assets.py consults it): an auth failure fails the step once, a dropped
connection goes back to the retry policy."""

from __future__ import annotations

import dagster as dg
import pytest

from mssql_starrocks.defs.migration.assets import RETRY, _failures
from mssql_starrocks.lib import failures
from mssql_starrocks.source.mssql import SourceError, UntrustedCertificate

JDBC_LOGIN = ("An error occurred while calling o123.load.\n: com.microsoft.sqlserver.jdbc.SQLServerException: "
              "Login failed for user 'migration_reader'. ClientConnectionId:5d1c")


@pytest.mark.parametrize("error, kind", [
    (RuntimeError(JDBC_LOGIN), "auth"),
    (RuntimeError("Stream Load l1 into d.t: the FE answered 401 instead of a redirect to a BE"), "auth"),
    (RuntimeError("starrocks://h:9030: error 5203: Access denied; you need (at least one of) the CREATE TABLE "
                  "privilege(s) on DATABASE d for this operation."), "privilege"),
    (UntrustedCertificate("mssql://h:1/db: the server's TLS certificate is not trusted"), "trust"),
    (RuntimeError("javax.net.ssl.SSLHandshakeException: PKIX path building failed"), "trust"),
    (RuntimeError("SQLServerException: Invalid object name 'dbo.gone'."), "missing object"),
    (RuntimeError("SQLServerException: Incorrect syntax near 'FROM'."), "invalid SQL"),
    (OSError(28, "No space left on device"), "disk full"),
    (ValueError("ICEBERG_CATALOG_TYPE=local cannot use the S3 warehouse ICEBERG_WAREHOUSE=s3://b"), "bad configuration"),
    (RuntimeError("Spark jars missing in /x/jars: mssql-jdbc. Run `jars/fetch.sh`"), "bad configuration"),
    (RuntimeError("org.apache.spark.SparkException: Job 3 cancelled as part of cancellation of all jobs"), "canceled"),
    (RuntimeError("SQLServerException: Connection reset"), None),
    (RuntimeError("Read timed out"), None),
    (SourceError("mssql://h:1/db: error 1205: Transaction was deadlocked"), None),  # transient by its own rule
])
def test_each_permanent_class_is_recognised_and_transient_faults_are_not(error, kind):
    assert failures.permanent_class(error) == kind


def test_a_permanent_aws_code_is_classed_by_code():
    assert failures.permanent_class(RuntimeError("boom"), aws_code="InvalidAccessKeyId") == "auth"
    assert failures.permanent_class(RuntimeError("boom"), aws_code="SlowDown") is None


def _run_failing(error: Exception) -> dg.ExecuteInProcessResult:
    attempts = []

    @dg.asset(retry_policy=dg.RetryPolicy(max_retries=RETRY.max_retries, delay=0))
    def failing() -> None:
        attempts.append(1)
        with _failures("db.dbo.t", "extract"):
            raise error

    result = dg.materialize([failing], raise_on_error=False)
    result.attempts = len(attempts)
    return result


def test_an_auth_failure_is_not_retried_and_a_lost_connection_is():
    refused = _run_failing(RuntimeError(JDBC_LOGIN))
    assert not refused.success and refused.attempts == 1
    [failure] = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "[extract; auth: not retried]" in failure.event_specific_data.error.message
    assert "Login failed for user 'migration_reader'" in failure.event_specific_data.error.message

    lost = _run_failing(RuntimeError("SQLServerException: Connection reset"))
    assert not lost.success and lost.attempts == RETRY.max_retries + 1
