"""The asset graph built from a tables file: 3 assets + 3 checks per table, schedules, sensor."""

import os
from pathlib import Path

import dagster as dg
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "tables.yaml"
SETTINGS = {"MSSQL_HOST": "sql.example.com", "MSSQL_USER": "reader", "MSSQL_PASSWORD": "pw-not-shown-1",
            "STARROCKS_HOST": "sr.example.com", "STARROCKS_USER": "loader", "STARROCKS_PASSWORD": "pw-not-shown-2"}


@pytest.fixture(autouse=True)
def settings(monkeypatch):
    for key, value in SETTINGS.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def defs(monkeypatch):
    from mssql_starrocks.lib import tables

    monkeypatch.setenv("MSSQL_STARROCKS_TABLES_FILE", str(FIXTURE))
    tables._cached.cache_clear()
    from mssql_starrocks import definitions

    loaded = definitions.defs
    loaded = loaded() if callable(loaded) else loaded
    return loaded.load() if hasattr(loaded, "load") else loaded


def test_definitions_validate_loadable(monkeypatch):
    from mssql_starrocks.lib import tables

    monkeypatch.setenv("MSSQL_STARROCKS_TABLES_FILE", str(FIXTURE))
    tables._cached.cache_clear()
    from mssql_starrocks.definitions import defs as lazy

    loaded = lazy.load() if hasattr(lazy, "load") else lazy()
    dg.Definitions.validate_loadable(loaded)


def test_three_assets_and_checks_per_table_with_dependencies(defs):
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    tables = ["demo/dbo/customers", "demo/sales/orders", "demo/dbo/order_details"]
    assert keys == {f"{layer}/{t}" for t in tables for layer in ("raw", "iceberg", "starrocks")}
    for t in tables:
        assert graph.get(dg.AssetKey.from_user_string(f"iceberg/{t}")).parent_keys == {dg.AssetKey.from_user_string(f"raw/{t}")}
        assert graph.get(dg.AssetKey.from_user_string(f"starrocks/{t}")).parent_keys == {dg.AssetKey.from_user_string(f"iceberg/{t}")}
    checks = {c.to_user_string() for c in graph.asset_check_keys}
    for t in tables:
        assert f"raw/{t}:row_count_matches_source" in checks
        assert f"iceberg/{t}:row_count_matches_raw" in checks
        assert f"starrocks/{t}:row_count_matches_iceberg" in checks
        assert f"starrocks/{t}:column_profile_matches_source" in checks
        assert f"iceberg/{t}:source_lag_within_tolerance" in checks
    assert len(checks) == 5 * len(tables)
    assert graph.get(dg.AssetKey.from_user_string("raw/demo/sales/orders")).group_name == "demo_sales"


def test_schedules_per_group_and_cron_and_the_change_sensor(defs):
    schedules = {s.name: s for s in defs.schedules}
    assert set(schedules) == {"demo_dbo_schedule", "demo_sales_schedule"}
    assert schedules["demo_dbo_schedule"].cron_schedule == "0 2 * * *"
    assert schedules["demo_sales_schedule"].cron_schedule == "*/30 * * * *"
    assert sorted(s.name for s in defs.sensors) == ["migration_failure_sensor", "source_change_sensor"]


def test_secrets_are_env_vars_not_values(defs):
    resources = defs.resources
    for resource, prefix in (("mssql", "MSSQL"), ("starrocks", "STARROCKS")):
        for field in ("host", "user", "password"):
            value = getattr(resources[resource], field)
            assert isinstance(value, dg.EnvVar) and value == f"{prefix}_{field.upper()}", (resource, field)


def test_definitions_load_with_only_the_tables_file(monkeypatch, defs):
    for key in SETTINGS:
        monkeypatch.delenv(key)
    monkeypatch.setenv("ICEBERG_CATALOG_TYPE", "glue")
    monkeypatch.delenv("ICEBERG_WAREHOUSE", raising=False)
    from mssql_starrocks import definitions

    loaded = definitions.defs()
    dg.Definitions.validate_loadable(loaded)
    assert {k.to_user_string() for k in loaded.resolve_asset_graph().get_all_asset_keys()} >= {
        "raw/demo/dbo/customers", "iceberg/demo/dbo/customers", "starrocks/demo/dbo/customers"}


def test_a_run_without_connection_settings_fails_naming_each_missing_variable(monkeypatch, tmp_path, defs):
    from mssql_starrocks.defs.migration.resources import migration_resources

    monkeypatch.delenv("MSSQL_PASSWORD")
    monkeypatch.delenv("STARROCKS_HOST")
    monkeypatch.setenv("ICEBERG_CATALOG_TYPE", "glue")
    monkeypatch.delenv("ICEBERG_WAREHOUSE", raising=False)
    monkeypatch.setenv("ICEBERG_LOCAL_DIR", str(tmp_path))
    chain = [defs.get_assets_def(dg.AssetKey([layer, "demo", "dbo", "customers"]))
             for layer in ("raw", "iceberg", "starrocks")]
    with pytest.raises(dg.DagsterInvalidConfigError) as err:
        dg.materialize(chain, resources=migration_resources())
    message = str(err.value)
    for name in ("MSSQL_PASSWORD", "STARROCKS_HOST", "ICEBERG_WAREHOUSE"):
        assert f'environment variable "{name}" which is not set' in message, name
    assert "pw-not-shown" not in message


def test_secrets_are_not_in_the_resolved_definitions_repr(defs):
    text = repr(defs.resources) + repr([a.metadata_by_key for a in defs.assets])
    assert "pw-not-shown-1" not in text and "pw-not-shown-2" not in text


# Each layer's technologies and its medallion (Dagit's bronze/silver/gold kind icons tell the
# three nodes of a chain apart: their titles are all the table's name).
KINDS = {"raw": {"mssql", "spark", "iceberg", "bronze"}, "iceberg": {"spark", "iceberg", "silver"},
         "starrocks": {"spark", "starrocks", "gold"}}
# (table key, source names, owners, configured tags) as the fixture sets them.
EXPECTED_TABLES = [
    ("demo/dbo/customers", ("demo", "dbo", "customers"), ["crm-lead@example.com", "team:crm"],
     {"domain": "shop", "pii": "yes"}),
    ("demo/sales/orders", ("demo", "sales", "orders"), ["team:data-platform"], {"domain": "sales"}),
    ("demo/dbo/order_details", ("demo", "dbo", "order_details"), [], {"domain": "shop"}),
]


def test_assets_carry_kinds_tags_and_owners_from_the_tables_file(defs):
    """What Dagit shows and filters on, read from the repository snapshot Dagit loads."""
    from dagster._core.remote_representation.external_data import RepositorySnap

    snap = {n.asset_key.to_user_string(): n for n in RepositorySnap.from_def(defs.get_repository_def()).asset_nodes}
    graph = defs.resolve_asset_graph()
    assert len(snap) == 9
    for table, (database, schema, name), owners, configured in EXPECTED_TABLES:
        load_mode = "full"
        for layer, kinds in KINDS.items():
            key = f"{layer}/{table}"
            node = graph.get(dg.AssetKey.from_user_string(key))
            assert node.kinds == kinds, key
            assert node.owners == owners, key
            expected_tags = {**configured, "layer": layer, "load_mode": load_mode, "source_database": database,
                             "source_schema": schema, "source_table": name,
                             **{f"dagster/kind/{k}": "" for k in kinds}}
            assert node.tags == expected_tags, key
            assert snap[key].tags == expected_tags and snap[key].owners == owners, key


def test_owners_and_tags_can_be_selected_in_dagster(defs):
    """Tags are usable in asset selections (Dagit's filter bar, `--select`)."""
    graph = defs.resolve_asset_graph()

    def select(text: str) -> set[str]:
        return {k.to_user_string() for k in dg.AssetSelection.from_string(text).resolve(graph)}

    assert select('tag:layer=starrocks') == {f"starrocks/{t[0]}" for t in EXPECTED_TABLES}
    assert select('tag:pii=yes') == {f"{layer}/demo/dbo/customers" for layer in KINDS}
    assert select('owner:"team:crm"') == {f"{layer}/demo/dbo/customers" for layer in KINDS}
    assert select('tag:source_schema=sales and kind:starrocks') == {"starrocks/demo/sales/orders"}
    # The keys users select with are unchanged; the medallion kind selects a layer.
    assert select('kind:gold and tag:source_schema=sales') == {"starrocks/demo/sales/orders"}
    assert select('kind:bronze') == {f"raw/{table}" for table, *_ in EXPECTED_TABLES}


def test_the_stream_load_size_is_a_setting_refused_when_wrong(monkeypatch, defs):
    from mssql_starrocks.settings import starrocks_settings

    assert defs.resources["starrocks"].settings().load_max_bytes == 64 * 1024 * 1024  # the default
    assert starrocks_settings({**SETTINGS, "STARROCKS_LOAD_MAX_MB": "16"}).load_max_bytes == 16 * 1024 * 1024
    for wrong in ("0", "sixteen", "99999"):
        with pytest.raises(ValueError, match=f"STARROCKS_LOAD_MAX_MB: '{wrong}' is not a size in MiB"):
            starrocks_settings({**SETTINGS, "STARROCKS_LOAD_MAX_MB": wrong})


@pytest.mark.integration  # a subprocess
def test_dagster_definitions_validate_needs_only_the_tables_file(tmp_path):
    """What CI runs: `dagster definitions validate` with the tables file and no connection settings."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    settings_prefixes = ("MSSQL_", "STARROCKS_", "ICEBERG_", "AWS_", "SPARK_", "GLUE_", "S3_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(settings_prefixes)}
    env.update({"MSSQL_STARROCKS_TABLES_FILE": str(FIXTURE), "DAGSTER_HOME": str(tmp_path),
                "PYTHONPATH": str(root)})
    done = subprocess.run([str(Path(sys.executable).with_name("dagster")), "definitions", "validate",
                           "-w", "workspace.yaml"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Validation successful" in done.stdout + done.stderr
