"""The whole chain against the stand-ins: the demo database discovered, migrated and checked.

One migration of every demo table runs once for this module (it is the expensive part); the
tests then look at its results, at each layer directly, and at what breaks when a layer is
broken on purpose.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json

import dagster as dg
import pytest

from mssql_starrocks_tests import e2e


@pytest.fixture(scope="module")
def demo(devservers, tmp_path_factory, spark):
    from mssql_starrocks_devservers import sample

    work = tmp_path_factory.mktemp("e2e")
    sample.load(devservers, spec="demo")
    tables_file = work / "tables.yaml"
    env_file = work / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in devservers.items()))
    found = e2e.cli([e2e.python_bin("mssql-starrocks"), "--env-file", str(env_file), "discover",
                     "--output", str(tables_file)], env={})
    assert found.returncode == 0, found.stderr + found.stdout
    env = e2e.product_env(devservers, work, tables_file)
    with e2e.environ(env):
        defs = e2e.load_definitions()
        instance = dg.DagsterInstance.ephemeral()
        result = e2e.run_assets(defs, "*", instance)
        yield {"defs": defs, "instance": instance, "result": result, "env": env, "work": work,
               "tables_file": tables_file, "devservers": devservers}


def test_every_table_materializes_and_every_row_count_check_passes(demo):
    result = demo["result"]
    assert result.success
    graph = demo["defs"].resolve_asset_graph()
    tables = {k.path[1:] and "/".join(k.path[1:]) for k in graph.get_all_asset_keys()}
    checks = e2e.check_results(result)
    assert len(checks) == 4 * len(tables)  # three row counts and the column profile
    failed = {k: v.description for k, v in checks.items() if not v.passed}
    assert not failed
    mats = e2e.materializations(result)
    assert len(mats) == 3 * len(tables)


def test_row_counts_agree_on_every_layer(demo):
    mats = e2e.materializations(demo["result"])
    devservers = demo["devservers"]
    for key, meta in mats.items():
        if not key.startswith("raw/"):
            continue
        table = key.removeprefix("raw/")
        source_rows = meta["source_row_count"]
        assert meta["dagster/row_count"] == source_rows
        assert mats[f"iceberg/{table}"]["dagster/row_count"] == source_rows
        assert mats[f"starrocks/{table}"]["dagster/row_count"] == source_rows
        sr_db, sr_table = mats[f"starrocks/{table}"]["starrocks_table"].split(".")
        assert e2e.starrocks_rows(devservers, f"SELECT COUNT(*) FROM `{sr_db}`.`{sr_table}`")[0][0] == source_rows


def test_materialization_metadata_describes_each_layer(demo):
    mats = e2e.materializations(demo["result"])
    raw = mats["raw/demo/dbo/customers"]
    assert raw["source_row_count"] > 0
    assert raw["jdbc_url"].startswith("jdbc:sqlserver://") and "password" not in raw["jdbc_url"].lower()
    ice = mats["iceberg/demo/dbo/customers"]
    assert int(ice["snapshot_id"]) > 0 and ice["files"] >= 1 and ice["bytes"] > 0
    sr = mats["starrocks/demo/dbo/customers"]
    assert sr["iceberg_snapshot_id"] == ice["snapshot_id"]
    assert sr["loaded_rows"] == sr["dagster/row_count"] and sr["filtered_rows"] == 0
    schema = sr["dagster/column_schema"]
    assert {c.name for c in schema.columns} >= {"customer_id", "_ingested_at", "_dagster_run_id"}


def test_breaking_the_starrocks_layer_fails_its_check_with_both_counts(demo):
    devservers = demo["devservers"]
    before = e2e.starrocks_rows(devservers, "SELECT COUNT(*) FROM demo_dbo.event_log")[0][0]
    e2e.starrocks_rows(devservers, "DELETE FROM demo_dbo.event_log WHERE event_id <= 10")
    after = e2e.starrocks_rows(devservers, "SELECT COUNT(*) FROM demo_dbo.event_log")[0][0]
    assert after == before - 10
    key = dg.AssetCheckKey(dg.AssetKey(["starrocks", "demo", "dbo", "event_log"]), "row_count_matches_iceberg")
    with e2e.environ(demo["env"]):
        result = e2e.run_checks(demo["defs"], [key], demo["instance"])
    evaluation = e2e.check_results(result)[key.to_user_string()]
    assert not evaluation.passed
    assert f"iceberg_rows = {before} but starrocks_rows = {after}" in evaluation.description
    # Re-materializing the StarRocks asset repairs the layer from the Iceberg snapshot.
    with e2e.environ(demo["env"]):
        repaired = e2e.run_assets(demo["defs"], [key.asset_key], demo["instance"])
    assert e2e.check_results(repaired)[key.to_user_string()].passed


def test_the_column_profile_check_compares_columns_and_catches_a_changed_value(demo):
    devservers = demo["devservers"]
    key = dg.AssetCheckKey(dg.AssetKey(["starrocks", "demo", "dbo", "customers"]), "column_profile_matches_source")
    evaluation = e2e.check_results(demo["result"])[key.to_user_string()]
    assert evaluation.passed, evaluation.description
    measures = evaluation.metadata["measures"].value
    assert measures >= 1 + 7 + 2 * 2 + 1  # rows, non-null per column, min/max of the key and balance, keys
    profile = evaluation.metadata["profile"].value
    assert "| max balance |" in profile and "| distinct keys | 500 | 500 |" in profile
    # Same row count, one value gone: only the column profile notices.
    e2e.starrocks_rows(devservers, "UPDATE demo_dbo.customers SET email = NULL WHERE customer_id = 7")
    with e2e.environ(demo["env"]):
        broken = e2e.check_results(e2e.run_checks(demo["defs"], [key], demo["instance"]))[key.to_user_string()]
    assert not broken.passed
    source = e2e.mssql_rows(devservers, "SELECT COUNT(email) FROM dbo.customers")[0][0]
    assert f"non-null email: SQL Server {source}, StarRocks {source - 1}" in broken.description
    assert "demo.dbo.customers -> starrocks demo_dbo.customers" in broken.description
    with e2e.environ(demo["env"]):
        repaired = e2e.run_assets(demo["defs"], [key.asset_key], demo["instance"])
    assert e2e.check_results(repaired)[key.to_user_string()].passed


def test_the_sensor_requests_a_run_only_for_a_changed_table(demo):
    defs = demo["defs"]
    sensor = defs.resolve_sensor_def("source_change_sensor")
    with e2e.environ(demo["env"]):
        resources = {"mssql": defs.resources["mssql"]}
        with dg.build_sensor_context(instance=demo["instance"], resources=resources) as ctx:
            first = sensor.evaluate_tick(ctx)
        assert not first.run_requests and first.cursor
        with dg.build_sensor_context(instance=demo["instance"], cursor=first.cursor, resources=resources) as ctx:
            second = sensor.evaluate_tick(ctx)
        assert not second.run_requests
        e2e.mssql_rows(demo["devservers"],
                       "INSERT INTO sales.orders (order_id, customer_id, order_date, amount, status, updated_at) "
                       "VALUES (990001, 1, '2024-06-01', 12.5, 'new', '2024-06-01 10:00:00')")
        with dg.build_sensor_context(instance=demo["instance"], cursor=second.cursor, resources=resources) as ctx:
            third = sensor.evaluate_tick(ctx)
    assert len(third.run_requests) == 1
    request = third.run_requests[0]
    assert set(request.asset_selection) == {dg.AssetKey([layer, "demo", "sales", "orders"])
                                           for layer in ("raw", "iceberg", "starrocks")}
    assert json.loads(third.cursor) != json.loads(second.cursor)


def test_the_dagster_cli_materializes_a_table_chain(demo, tmp_path):
    env = {**demo["env"], "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("")
    done = e2e.cli([e2e.python_bin("dagster"), "asset", "materialize", "-m", "mssql_starrocks.definitions",
                    "--select", "raw/demo/dbo/customers*"], env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stdout + done.stderr
    devservers = demo["devservers"]
    source = e2e.mssql_rows(devservers, "SELECT COUNT(*) FROM dbo.customers")[0][0]
    assert e2e.starrocks_rows(devservers, "SELECT COUNT(*) FROM demo_dbo.customers")[0][0] == source


def test_headless_run_command_reports_checks(demo):
    done = e2e.cli([e2e.python_bin("mssql-starrocks"), "run", "--select", "starrocks/demo/dbo/customers"],
                   env=demo["env"], timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 asset(s) materialized, 2/2 check(s) passed" in done.stdout
    assert ": steps" in done.stdout  # the progress bar of finished steps


# --- values ---------------------------------------------------------------------------------
def _normalise(value):
    if isinstance(value, decimal.Decimal):
        return value.normalize() if value == value.to_integral() else value.normalize()
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def test_values_survive_the_trip_for_every_supported_type(demo):
    """StarRocks rows equal the SQL Server rows after the documented mapping, row by row."""
    from mssql_starrocks.lib.mssql import MssqlClient, MssqlSettings
    from mssql_starrocks.lib import schema as sch

    devservers = demo["devservers"]
    settings = MssqlSettings(host=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]), database="demo",
                             user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"], encrypt=False)
    client = MssqlClient(settings)
    columns = client.columns("dbo", "all_types")
    keys = client.primary_key("dbo", "all_types")
    plan = sch.build("demo.dbo.all_types", columns, key_columns=keys)
    expected = {}
    for row in e2e.mssql_rows(devservers, "SELECT * FROM dbo.all_types"):
        mapped = expected_row(columns, row)
        expected[mapped[plan.key_columns[0]]] = mapped
    names = [c.name for c in plan.data_columns]
    got = {}
    for row in e2e.starrocks_rows(devservers, "SELECT " + ", ".join(f"`{n}`" for n in names)
                                  + " FROM demo_dbo.all_types"):
        record = dict(zip(names, row))
        got[record[plan.key_columns[0]]] = record
    assert set(got) == set(expected)
    mismatches = []
    for key, want in expected.items():
        for name, value in want.items():
            if _normalise(got[key][name]) != _normalise(value):
                mismatches.append(f"row {key} column {name}: SQL Server -> {value!r}, StarRocks has {got[key][name]!r}")
    assert not mismatches, "\n".join(mismatches[:20])


def expected_row(columns, row) -> dict:
    """The documented mapping applied in Python to a row read natively from SQL Server."""
    from mssql_starrocks.lib.names import to_target_name
    from mssql_starrocks.lib.typemap import OFFSET_SUFFIX

    out = {}
    for col, value in zip(columns, row):
        name = to_target_name(col.name)
        t = col.data_type
        if value is None:
            out[name] = None
            if t == "datetimeoffset":
                out[name + OFFSET_SUFFIX] = None
            continue
        if t == "bit":
            out[name] = 1 if value else 0
        elif t == "uniqueidentifier":
            out[name] = str(value).lower()
        elif t in ("timestamp", "rowversion"):
            out[name] = int.from_bytes(value, "big", signed=True)
        elif t == "datetimeoffset":
            out[name] = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            out[name + OFFSET_SUFFIX] = int(value.utcoffset().total_seconds() // 60)
        elif t == "time":
            text = value.strftime("%H:%M:%S")
            scale = 7 if col.scale is None else col.scale
            out[name] = text + ("." + f"{value.microsecond:06d}0"[:scale] if scale else "")
        elif t in ("datetime2", "datetime", "smalldatetime"):
            out[name] = value
        elif t in ("money", "smallmoney", "decimal", "numeric"):
            out[name] = decimal.Decimal(value)
        elif t == "real" or (t == "float" and (col.precision or 53) <= 24):
            out[name] = float(value)
        else:
            out[name] = value
    return out
