"""Shared fixtures: the stand-in servers (started once per test session on free ports) and one
local SparkSession per test session, as the real product builds it.

Markers: a test that uses the `devservers` or `spark` fixture is marked `integration`
automatically; modules that start other processes say so with their own `pytestmark`. The fast
lane is `pytest -m "not integration"` (`make test-fast`).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mssql_starrocks_devservers import runtime

TEST_OUTPUT = Path(__file__).resolve().parents[1] / "test-output"
# Fixtures that start servers or a JVM: a test using one is an integration test.
INTEGRATION_FIXTURES = frozenset({"devservers", "spark"})
# Stand-in tests that start the servers themselves (their files belong to the stand-ins' owners).
INTEGRATION_MODULES = frozenset({"devservers/test_runtime.py"})
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        uses = {name for name in getattr(item, "fixturenames", ()) if name not in params}
        module = Path(str(item.fspath)).resolve()
        in_modules = module.is_relative_to(HERE) and module.relative_to(HERE).as_posix() in INTEGRATION_MODULES
        if uses & INTEGRATION_FIXTURES or in_modules:
            item.add_marker(pytest.mark.integration)


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
