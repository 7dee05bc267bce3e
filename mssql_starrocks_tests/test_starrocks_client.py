"""The StarRocks SQL client's connections: pymysql's default TLS mode (preferred, unverified),
its context built once per process, not once per statement."""

from __future__ import annotations

import ssl

import pymysql
import pytest

from mssql_starrocks.settings import starrocks_settings
from mssql_starrocks.target import starrocks

pytestmark = pytest.mark.integration


def test_statements_share_one_tls_context_with_pymysqls_default_settings(devservers, monkeypatch):
    built = []
    real = ssl.create_default_context

    def counting(*args, **kwargs):
        built.append(args or kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counting)
    monkeypatch.setattr(starrocks._connection_class(), "preferred_tls", None)
    client = starrocks.StarRocksClient(starrocks_settings(devservers))
    assert [client.execute("SELECT 1")[0][0] for _ in range(3)] == [1, 1, 1]
    assert len(built) == 1
    shared = starrocks._connection_class().preferred_tls
    plain = pymysql.connect(host="127.0.0.1", defer_connect=True).ctx  # what pymysql builds on its own
    assert len(built) == 2
    assert (shared.verify_mode, shared.check_hostname, shared.verify_flags) == \
        (plain.verify_mode, plain.check_hostname, plain.verify_flags)
