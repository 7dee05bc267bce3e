"""Shared fixtures: the stand-in servers (started once per test session on free ports) and one
local SparkSession per test session, as the real product builds it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mssql_starrocks_devservers import runtime

TEST_OUTPUT = Path(__file__).resolve().parents[1] / "test-output"


@pytest.fixture(scope="session")
def devservers(tmp_path_factory) -> dict[str, str]:
    """Settings of freshly started stand-ins, as the env-file lines `up` writes."""
    state_dir = tmp_path_factory.mktemp("devservers")
    values = runtime.up(state_dir, state_dir / ".env.devservers")
    try:
        yield values
    finally:
        runtime.down(state_dir)


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole test session (local[2], few shuffle partitions)."""
    from mssql_starrocks.lib.spark import base_spark_conf, build_session

    conf = base_spark_conf(master="local[2]", app_name="mssql_starrocks_tests", shuffle_partitions=2,
                           extra_conf={"spark.driver.memory": "2g"})
    session = build_session(conf)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def test_output() -> Path:
    TEST_OUTPUT.mkdir(exist_ok=True)
    return TEST_OUTPUT
