"""The whole chain against the stand-ins: the demo database discovered, migrated and checked.

One migration of every demo table runs once for this module (it is the expensive part); the
tests then look at its results, at each layer directly, and at what breaks when a layer is
broken on purpose.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from urllib.parse import urlparse

import dagster as dg
import pytest

from mssql_starrocks.lib.tables import LAYER_TITLE
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
    assert len(checks) == 5 * len(tables)  # three row counts, the source lag and the column profile
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


INT_KEYS = {
    "raw": {"dagster/row_count", "source_row_count", "bytes", "files", "splits"},
    "iceberg": {"dagster/row_count", "raw_row_count", "files", "bytes"},
    "starrocks": {"dagster/row_count", "iceberg_row_count", "loads", "loaded_rows", "filtered_rows", "reused_labels"},
}
FLOAT_KEYS = {"duration_s", "rows_per_s"}
ID_KEYS = {"raw_snapshot_id", "snapshot_id", "iceberg_snapshot_id"}  # 64-bit ids, kept exact as text
# Spark's name for each Iceberg type the plan shows (DESCRIBE answers in Spark types).
ICEBERG_AS_SPARK = {"long": "bigint", "timestamp": "timestamp_ntz", "timestamptz": "timestamp"}


def _markdown_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")][2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_materialization_metadata_describes_each_layer(demo, spark):
    """Every layer's metadata for demo.dbo.customers: each key, its MetadataValue type (numbers
    plot in Dagit, ids stay exact) and its value, checked against SQL Server, the Iceberg
    snapshot and StarRocks themselves."""
    from mssql_starrocks.lake import iceberg as ice
    from mssql_starrocks.lake import state
    from mssql_starrocks.source.mssql import MssqlClient, MssqlSettings
    from mssql_starrocks.target.starrocks import StarRocksSettings, label_state

    devservers, result = demo["devservers"], demo["result"]
    entries = e2e.materialization_entries(result)
    raw, ib, sr = (entries[f"{layer}/demo/dbo/customers"] for layer in ("raw", "iceberg", "starrocks"))
    for layer, meta in (("raw", raw), ("iceberg", ib), ("starrocks", sr)):
        for key in INT_KEYS[layer]:
            assert isinstance(meta[key], dg.IntMetadataValue), (layer, key, meta[key])
        for key in FLOAT_KEYS:
            assert isinstance(meta[key], dg.FloatMetadataValue), (layer, key, meta[key])
            assert meta[key].value >= 0
        for key, value in meta.items():  # no number hidden in text, where Dagit cannot plot it
            if isinstance(value, dg.TextMetadataValue) and key not in ID_KEYS:
                assert not value.value.lstrip("-").replace(".", "", 1).isdigit(), (layer, key, value)
        step = f"{layer}__demo__dbo__customers"
        assert meta["duration_s"].value <= e2e.step_seconds(demo["instance"], result.run_id, step) + 0.01
        rows = meta["dagster/row_count"].value if layer != "iceberg" else meta["raw_row_count"].value
        if layer == "starrocks":
            rows = meta["loaded_rows"].value
        assert meta["rows_per_s"].value == pytest.approx(rows / meta["duration_s"].value, rel=0.02, abs=0.2)

    source_rows = e2e.mssql_rows(devservers, "SELECT COUNT(*) FROM dbo.customers")[0][0]
    # raw: the landing snapshot this run committed.
    assert raw["dagster/row_count"].value == raw["source_row_count"].value == source_rows == 500
    assert (raw["extract_kind"].value, raw["extract_reason"].value) == ("full", "full load")
    landing = raw["raw_table"].value
    assert landing == "lake.`demo_dbo`.`customers__raw`"
    snap = ice.snapshot_by_id(spark, landing, int(raw["raw_snapshot_id"].value))
    assert snap.summary[state.RUN_ID] == result.run_id
    files = spark.sql(f"SELECT COUNT(*) AS n, SUM(file_size_in_bytes) AS b FROM {landing}.files "
                      f"VERSION AS OF {snap.snapshot_id}").collect()[0]
    assert (raw["files"].value, raw["bytes"].value) == (files["n"], files["b"])
    assert raw["files"].value >= 1 and raw["splits"].value >= 1
    assert spark.read.option("snapshot-id", str(snap.snapshot_id)).table(landing).count() == source_rows
    assert raw["jdbc_url"].value.startswith("jdbc:sqlserver://") and devservers["MSSQL_PASSWORD"] not in str(raw)
    assert raw["schema_changes"].value == []
    assert "watermark" not in raw and "ct_version" not in raw  # a full table has no state

    # iceberg: the table's snapshot, its location and its files.
    table = ib["iceberg_table"].value
    assert table == "lake.`demo_dbo`.`customers`" and ib["commit_kind"].value == "full"
    isnap = ice.snapshot_by_id(spark, table, int(ib["snapshot_id"].value))
    assert isnap.summary[state.RUN_ID] == result.run_id
    assert isnap.summary["mssql_starrocks.raw_snapshot_id"] == raw["raw_snapshot_id"].value
    assert ib["dagster/row_count"].value == ib["raw_row_count"].value == source_rows
    files = spark.sql(f"SELECT COUNT(*) AS n, SUM(file_size_in_bytes) AS b FROM {table}.files "
                      f"VERSION AS OF {isnap.snapshot_id}").collect()[0]
    assert (ib["files"].value, ib["bytes"].value) == (files["n"], files["b"])
    assert isinstance(ib["table_location"], dg.PathMetadataValue)
    assert ib["table_location"].value == ice.table_location(spark, table)
    location = Path(urlparse(ib["table_location"].value).path)
    assert (location / "metadata").is_dir() and any((location / "data").rglob("*.parquet"))
    assert ib["catalog"].value.startswith("local:")

    # starrocks: the load, by label, as StarRocks itself reports it.
    assert sr["iceberg_snapshot_id"].value == ib["snapshot_id"].value
    assert sr["iceberg_row_count"].value == source_rows
    assert (sr["load_kind"].value, sr["model"].value, sr["starrocks_table"].value) == \
        ("full", "primary_key", "demo_dbo.customers")
    assert "previous_snapshot_id" not in sr  # a full table never had a delta base
    labels = sr["load_labels"].value
    assert isinstance(sr["load_labels"], dg.JsonMetadataValue) and len(labels) == sr["loads"].value >= 1
    assert sum(r["loaded"] for r in labels) == sr["loaded_rows"].value == source_rows
    assert sum(r["filtered"] for r in labels) == sr["filtered_rows"].value == 0 and sr["reused_labels"].value == 0
    assert isinstance(sr["load_bytes"], dg.IntMetadataValue)
    assert sum(r["bytes"] for r in labels) == sr["load_bytes"].value > 100 * source_rows  # JSON of every row
    settings = StarRocksSettings(host=devservers["STARROCKS_HOST"], query_port=int(devservers["STARROCKS_QUERY_PORT"]),
                                 http_port=int(devservers["STARROCKS_HTTP_PORT"]), user=devservers["STARROCKS_USER"],
                                 password=devservers["STARROCKS_PASSWORD"])
    for load in labels:
        assert load["label"].startswith(sr["load_label_prefix"].value)
        if load["status"] != "Empty":
            assert load["status"] == "Success" and label_state(settings, "demo_dbo", load["label"]) == "VISIBLE"

    # The column schema on each layer, the type table and the column lineage.
    client = MssqlClient(MssqlSettings(host=devservers["MSSQL_HOST"], port=int(devservers["MSSQL_PORT"]),
                                       database="demo", user=devservers["MSSQL_USER"],
                                       password=devservers["MSSQL_PASSWORD"], encrypt=False))
    declared = {c.name: c.declared for c in client.columns("dbo", "customers")}
    landed = dict(spark.read.option("snapshot-id", str(snap.snapshot_id)).table(landing).dtypes)
    iceberg_types = dict(spark.table(table).dtypes)
    sr_types = dict(e2e.starrocks_rows(devservers, "SELECT column_name, column_type FROM information_schema.columns "
                                                   "WHERE table_schema = 'demo_dbo' AND table_name = 'customers'"))
    # Nullability as each layer really has it: the landing's and the Iceberg table's schemas, and
    # the table StarRocks created (only its key NOT NULL, whatever SQL Server declared).
    really_nullable = {
        "raw": {f.name: f.nullable for f in spark.read.option("snapshot-id", str(snap.snapshot_id)).table(landing)
                .schema.fields},
        "iceberg": {f.name: f.nullable for f in spark.table(table).schema.fields},
        "starrocks": {n: v == "YES" for n, v in e2e.starrocks_rows(
            devservers, "SELECT column_name, is_nullable FROM information_schema.columns "
                        "WHERE table_schema = 'demo_dbo' AND table_name = 'customers'")},
    }
    assert really_nullable["starrocks"]["customer_id"] is False
    assert [n for n, v in really_nullable["starrocks"].items() if not v] == ["customer_id"]
    assert all(really_nullable["iceberg"].values())
    source_not_null = [c.name for c in client.columns("dbo", "customers") if not c.nullable]
    assert len(source_not_null) > 1  # SQL Server NOT NULL beyond the key, nullable in StarRocks
    audit = {"_ingested_at", "_dagster_run_id", "_source_system", "_source_table"}
    names = list(declared) + sorted(audit, key=["_ingested_at", "_dagster_run_id", "_source_system",
                                                "_source_table"].index)
    for layer, meta in (("raw", raw), ("iceberg", ib), ("starrocks", sr)):
        schema = meta["dagster/column_schema"]
        assert isinstance(schema, dg.TableSchemaMetadataValue)
        columns = {c.name: c for c in schema.value.columns}
        assert [c.name for c in schema.value.columns] == names, layer
        for name, column in columns.items():
            if name in declared:
                assert column.description.startswith(f"SQL Server {declared[name]} [{name}]"
                                                      + (" NOT NULL" if name in source_not_null else "")), (layer, name)
            assert column.constraints.nullable == really_nullable[layer][name], (layer, name)
            if layer == "raw":
                assert column.type == landed[name], name
            elif layer == "iceberg":
                assert ICEBERG_AS_SPARK.get(column.type, column.type) == iceberg_types[name], name
            else:
                live = sr_types[name].lower()
                want = column.type.lower()
                assert live == want or live.startswith(want + "("), (name, live, want)
        mapping = meta["type_mapping"]
        assert isinstance(mapping, dg.MarkdownMetadataValue)
        rows = {r[0]: r for r in _markdown_rows(mapping.value)}
        assert list(rows) == names
        for name, (_, source_type, iceberg_type, starrocks_type, _note) in rows.items():
            assert source_type == declared.get(name, "(added)")
            plan_types = {c.name: c.type for c in ib["dagster/column_schema"].value.columns}
            assert iceberg_type == plan_types[name]
            assert starrocks_type == {c.name: c.type for c in sr["dagster/column_schema"].value.columns}[name]
    assert "dagster/column_lineage" not in raw  # SQL Server is not an asset
    for meta, upstream in ((ib, ["raw", "demo", "dbo", "customers"]), (sr, ["iceberg", "demo", "dbo", "customers"])):
        lineage = meta["dagster/column_lineage"]
        assert isinstance(lineage, dg.TableColumnLineageMetadataValue)
        deps = lineage.value.deps_by_column
        assert list(deps) == names
        assert all(d == [dg.TableColumnDep(asset_key=dg.AssetKey(upstream), column_name=n)] for n, d in deps.items())


def test_asset_descriptions_come_from_the_source_catalog(demo):
    """Discover wrote each table's comment (MS_Description), key and row estimate from SQL Server;
    every layer's asset description says them."""
    devservers = demo["devservers"]
    comments = {(s, t): c for s, t, c in e2e.mssql_rows(devservers, (
        "SELECT s.name, t.name, CAST(ep.value AS NVARCHAR(4000)) FROM sys.extended_properties ep "
        "JOIN sys.tables t ON t.object_id = ep.major_id JOIN sys.schemas s ON s.schema_id = t.schema_id "
        "WHERE ep.class = 1 AND ep.minor_id = 0 AND ep.name = 'MS_Description'"))}
    estimates = {(s, t): n for s, t, n in e2e.mssql_rows(devservers, (
        "SELECT s.name, t.name, SUM(p.rows) FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id "
        "JOIN sys.partitions p ON p.object_id = t.object_id AND p.index_id IN (0, 1) GROUP BY s.name, t.name"))}
    keys: dict[tuple[str, str], list[str]] = {}
    for s, t, column in e2e.mssql_rows(devservers, (
            "SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS c "
            "JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE k ON k.CONSTRAINT_NAME = c.CONSTRAINT_NAME "
            "AND k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME "
            "WHERE c.CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.ORDINAL_POSITION")):
        keys.setdefault((s, t), []).append(column)
    assert len(comments) == 8 and keys[("sales", "order_lines")] == ["order_id", "line_no"]
    graph = demo["defs"].resolve_asset_graph()
    described = 0
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        source = node.metadata["source_table"].split(".", 1)[1]
        schema, name = source.split(".", 1)
        paragraphs = node.description.split("\n\n")
        assert paragraphs[0] == f"{LAYER_TITLE[key.path[0]]} of `demo.{schema}.{name}`"
        assert comments[(schema, name)] in paragraphs
        key_lines = [p for p in paragraphs if p.startswith("Key: ")]
        assert key_lines == ([f"Key: {', '.join(keys[(schema, name)])}"] if (schema, name) in keys else [])
        assert f"About {estimates[(schema, name)]:,} rows (SQL Server's estimate when discovered)." in paragraphs
        described += 1
    assert described == 24
    assert "About 5,000 rows" in graph.get(dg.AssetKey(["iceberg", "demo", "dbo", "event_log"])).description


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


def test_the_dagster_cli_materializes_the_sample_database_and_every_check_passes(demo, tmp_path):
    """`dagster asset materialize` in its own process, as a user or CI runs it: every table's
    chain and checks, recorded in DAGSTER_HOME, then read back from that instance."""
    from mssql_starrocks.lib.config import load_plans

    env = {**demo["env"], "DAGSTER_HOME": str(tmp_path)}
    (tmp_path / "dagster.yaml").write_text("")
    done = e2e.cli([e2e.python_bin("dagster"), "asset", "materialize", "-m", "mssql_starrocks.definitions",
                    "--select", "*"], env=env, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stdout + done.stderr
    graph = demo["defs"].resolve_asset_graph()
    tables = sorted({"/".join(k.path[1:]) for k in graph.get_all_asset_keys()})
    with e2e.environ({"DAGSTER_HOME": str(tmp_path)}):
        instance = dg.DagsterInstance.get()
        run = instance.get_runs(limit=1)[0]
        evaluations = [e.dagster_event.event_specific_data
                       for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
        materialized = {e.dagster_event.event_specific_data.materialization.asset_key.to_user_string()
                        for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)}
    assert materialized == {f"{layer}/{t}" for t in tables for layer in ("raw", "iceberg", "starrocks")}
    assert len(evaluations) == 5 * len(tables)
    assert not {ev.asset_check_key.to_user_string(): ev.description for ev in evaluations if not ev.passed}
    devservers = demo["devservers"]
    for plan in load_plans(demo["tables_file"]):
        source = e2e.mssql_rows(devservers, f"SELECT COUNT_BIG(*) FROM {plan.source_qualified_tsql}")[0][0]
        target = e2e.starrocks_rows(devservers, f"SELECT COUNT(*) FROM `{plan.namespace}`.`{plan.table}`")[0][0]
        assert target == source, plan.source_label


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
    from mssql_starrocks.source.mssql import MssqlClient, MssqlSettings
    from mssql_starrocks.mapping import schema as sch

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
    from mssql_starrocks.mapping.names import to_target_name
    from mssql_starrocks.mapping.typemap import OFFSET_SUFFIX

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
