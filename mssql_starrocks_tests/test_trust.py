"""SQL Server TLS trust (source/trust.py): with encryption and certificate checking on (the
default), a server whose certificate is not trusted is refused before the password is sent, by
`check`, `discover`, `plan --live` and a run alike, with one message naming the settings to
change; with the CA given (MSSQL_CA_FILE) or MSSQL_TRUST_SERVER_CERTIFICATE=true they work.

The SQL Server stand-in serves TLS with a fresh self-signed certificate; the tests read it off
the wire (PRELOGIN + TLS handshake, no login) to play the CA a user would give."""

from __future__ import annotations

import ssl

import pytest

from mssql_starrocks.source import trust
from mssql_starrocks.source.mssql import MssqlClient, MssqlSettings, UntrustedCertificate
from mssql_starrocks_tests.test_cli import mssql_starrocks
from mssql_starrocks_tests.test_cli_errors import block

REFUSED = "the server's TLS certificate is not trusted (self-signed certificate); refused before the password was sent"
SETTINGS_NAMED = ("MSSQL_CA_FILE", "MSSQL_TRUST_SERVER_CERTIFICATE=true")


def _refused(text: str) -> bool:
    return REFUSED in text and all(name in text for name in SETTINGS_NAMED)


# --- the policy itself (no servers) ------------------------------------------------------------
def test_one_policy_gives_jdbc_and_pymssql_the_same_trust(tmp_path):
    from pysqlbridge.certificate import self_signed

    ca = tmp_path / "ca.pem"
    ca.write_bytes(self_signed("db.example").cert_pem)
    checked = trust.TrustPolicy(ca_file=str(ca))
    assert checked.verifies
    assert checked.jdbc_properties() == ["encrypt=true", "trustServerCertificate=false"]
    options = checked.jdbc_options()
    assert options["trustStoreType"] == "PKCS12" and options["trustStore"].endswith(".p12")
    args = checked.pymssql_args("db.example", 1433)
    assert args["encryption"] == "require" and args["server"].startswith("mssql_starrocks_")  # a FreeTDS section

    unchecked = trust.TrustPolicy(trust_server_certificate=True, ca_file=str(ca))
    assert not unchecked.verifies and unchecked.jdbc_options() == {}
    assert unchecked.pymssql_args("db.example", 1433) == {"server": "db.example", "port": "1433",
                                                          "encryption": "require"}
    assert trust.TrustPolicy(encrypt=False).pymssql_args("h", 1)["encryption"] == "off"
    assert _refused(trust.untrusted_message("mssql://h:1/db", "self-signed certificate"))


def test_a_ca_file_that_is_not_there_is_refused_naming_the_setting():
    client = MssqlClient(MssqlSettings(host="127.0.0.1", port=1, database="d", user="u", password="p",
                                       ca_file="/nonexistent/ca.pem"))
    with pytest.raises(UntrustedCertificate, match="MSSQL_CA_FILE: /nonexistent/ca.pem is not a readable file"):
        client.server_version()


# --- against the TLS stand-in --------------------------------------------------------------------
def served_certificate(host: str, port: int) -> str:
    """The stand-in's certificate as PEM, read without checking it (and without logging in)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return ssl.DER_cert_to_PEM_cert(trust.tls_handshake(host, port, context, host))


@pytest.fixture(scope="module")
def tls(devservers, tmp_path_factory):
    from mssql_starrocks_devservers import sample

    work = tmp_path_factory.mktemp("trust")
    sample.load(devservers, spec="demo", database="trust")
    ca = work / "ca.pem"
    ca.write_text(served_certificate(devservers["MSSQL_HOST"], int(devservers["MSSQL_PORT"])))
    base = {**devservers, "MSSQL_DATABASE": "trust", "MSSQL_ENCRYPT": "true",
            "MSSQL_TRUST_SERVER_CERTIFICATE": "false", "ICEBERG_CATALOG_TYPE": "local",
            "ICEBERG_LOCAL_DIR": str(work / "iceberg"), "SPARK_MASTER": "local[2]",
            "SPARK_SHUFFLE_PARTITIONS": "2", "MSSQL_STARROCKS_TABLES_FILE": str(work / "tables.yaml")}

    def env_file(name: str, **extra: str):
        path = work / name
        path.write_text("".join(f"{k}={v}\n" for k, v in {**base, **extra}.items()))
        return str(path)

    return {"work": work, "ca": str(ca), "password": devservers["MSSQL_PASSWORD"],
            "untrusted": env_file(".env.untrusted"), "ca_given": env_file(".env.ca", MSSQL_CA_FILE=str(ca)),
            "trusted": env_file(".env.trust", MSSQL_TRUST_SERVER_CERTIFICATE="true")}


def test_check_refuses_an_untrusted_certificate_and_passes_with_the_ca_or_the_trust_setting(tls):
    done = mssql_starrocks(["--env-file", tls["untrusted"], "check"])
    assert done.returncode == 1
    line = next(x for x in done.stdout.splitlines() if "SQL Server" in x)
    assert line.startswith("FAIL") and _refused(line), done.stdout
    assert tls["password"] not in done.stdout + done.stderr
    for trusted in ("ca_given", "trusted"):
        done = mssql_starrocks(["--env-file", tls[trusted], "check"])
        line = next(x for x in done.stdout.splitlines() if "SQL Server" in x)
        assert line.startswith("OK") and "version 16.0" in line, (trusted, done.stdout)


def test_discover_and_plan_live_refuse_an_untrusted_certificate_and_work_with_the_ca(tls):
    tables = str(tls["work"] / "tables.yaml")
    refused = mssql_starrocks(["--env-file", tls["untrusted"], "discover", "--output", tables])
    assert refused.returncode == 1 and _refused(refused.stderr), refused.stderr
    assert "Traceback" not in refused.stderr
    found = mssql_starrocks(["--env-file", tls["ca_given"], "discover", "--output", tables, "--force"])
    assert found.returncode == 0 and "table(s) from trust" in found.stdout, found.stderr

    refused = mssql_starrocks(["--env-file", tls["untrusted"], "plan", "dbo.customers", "--live"])
    assert refused.returncode == 1 and _refused(refused.stderr), refused.stderr
    planned = mssql_starrocks(["--env-file", tls["ca_given"], "plan", "dbo.customers", "--live"])
    assert planned.returncode == 0 and "CREATE TABLE `trust_dbo`.`customers`" in planned.stdout, planned.stderr


def test_a_run_refuses_an_untrusted_certificate_and_runs_with_the_ca_given(tls):
    """The CA reaches both clients: the count queries (FreeTDS) and Spark's extract (mssql-jdbc,
    through the PKCS12 trust store made from MSSQL_CA_FILE)."""
    select = ["run", "--select", "raw/trust/dbo/customers"]
    refused = mssql_starrocks(["--env-file", tls["untrusted"], *select], timeout=900)
    assert refused.returncode == 1, refused.stderr[-3000:]
    fields = block(refused, "run")  # the run's closing block names the table and step, and says why
    assert fields["what failed"] == "trust.dbo.customers, step extract" and _refused(fields["why"]), fields
    assert "Traceback" not in refused.stdout + refused.stderr
    done = mssql_starrocks(["--env-file", tls["ca_given"], *select], timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 asset(s) materialized" in done.stdout
