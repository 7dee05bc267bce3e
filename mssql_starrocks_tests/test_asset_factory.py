"""The asset factory run by `dagster.materialize` with fake resources and fake steps: no servers,
no Spark. What the factory itself adds: the chain's keys and order, the run id and plan each step
gets, the table lock, Dagit metadata (row counts, ids as text, column schema and lineage), and
failures named by table and step, permanent ones without retries."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from mssql_starrocks.defs.migration.assets import _build_table_assets
from mssql_starrocks.defs.migration.resources import TableLocksResource
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.lib.config import load_plans
from mssql_starrocks.lib.pipeline import StepResult
from mssql_starrocks.lib.tables import table_keys, table_lock_name
from mssql_starrocks.mapping.typemap import SourceColumn

FIXTURE = Path(__file__).parent / "fixtures" / "tables.yaml"
COLUMNS = [SourceColumn("customer_id", "int", nullable=False, ordinal=1),
           SourceColumn("name", "nvarchar", max_length=50, ordinal=2)]


class FakeSteps:
    """Stands in for lib/pipeline: records each call and returns what a real step would report."""

    def __init__(self, fail_at: str | None = None, error: Exception | None = None):
        self.calls: list[tuple[str, str, str]] = []
        self.fail_at, self.error = fail_at, error

    def _step(self, name, plan, run_id, metadata):
        self.calls.append((name, plan.source_label, run_id))
        if name == self.fail_at:
            raise self.error
        schema_plan = sch.build(plan.source_label, COLUMNS, key_columns=["customer_id"])
        # As a real step reads it back from the table it wrote: here only the key is NOT NULL.
        return StepResult(metadata, schema_plan, {c.name: c.name != "customer_id" for c in schema_plan.columns})

    def extract(self, spark, *, mssql, iceberg, plan, run_id, log, warn):
        assert spark == "spark-session" and mssql == "mssql-settings" and iceberg.display == "fake-catalog"
        return self._step("extract", plan, run_id, {"row_count": 3, "raw_snapshot_id": 2 ** 62 + 1,
                                                    "extract_kind": "full", "schema_changes": []})

    def landing_snapshot_id(self, spark, *, iceberg, plan):
        return 2 ** 62 + 1

    def to_iceberg(self, spark, *, iceberg, plan, raw_snapshot_id, run_id, log):
        assert raw_snapshot_id == 2 ** 62 + 1
        return self._step("to_iceberg", plan, run_id, {"row_count": 3, "snapshot_id": 7,
                                                       "table_location": "file:///lake/t"})

    def to_starrocks(self, spark, *, iceberg, starrocks, plan, run_id, log):
        assert starrocks == "starrocks-settings"
        return self._step("to_starrocks", plan, run_id, {"row_count": 3, "load_kind": "full", "loads": 1,
                                                         "filtered_rows": 0, "duration_s": 1.5, "rows_per_s": 2.0})


class FakeCatalog:
    display = "fake-catalog"


class Fake:
    """A resource answering only what the assets ask of it."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)


def fake_resources(tmp_path) -> dict:
    return {
        "spark": Fake(spark_session="spark-session"),
        "mssql": Fake(settings=lambda: "mssql-settings"),
        "iceberg": Fake(get_client=FakeCatalog),
        "starrocks": Fake(settings=lambda: "starrocks-settings"),
        "locks": TableLocksResource(lock_dir=str(tmp_path / "locks"), timeout_s=5),
    }


@pytest.fixture
def customers():
    plans = {p.spec.qualified: p for p in load_plans(FIXTURE)}
    return plans["dbo.customers"]


def test_a_table_chain_materializes_in_order_with_the_run_id_and_readable_metadata(tmp_path, customers):
    steps = FakeSteps()
    keys = table_keys(customers)
    assets = _build_table_assets(plan=customers, keys=keys, steps=steps)
    result = dg.materialize(assets, resources=fake_resources(tmp_path))
    assert result.success
    assert steps.calls == [(step, "demo.dbo.customers", result.run_id)
                           for step in ("extract", "to_iceberg", "to_starrocks")]
    raw = result.asset_materializations_for_node(assets[0].node_def.name)[0].metadata
    assert raw["dagster/row_count"].value == 3
    assert raw["raw_snapshot_id"] == dg.MetadataValue.text(str(2 ** 62 + 1))  # 64-bit ids stay exact
    assert [c.name for c in raw["dagster/column_schema"].schema.columns][:2] == ["customer_id", "name"]
    iceberg = result.asset_materializations_for_node(assets[1].node_def.name)[0].metadata
    assert iceberg["table_location"] == dg.MetadataValue.path("file:///lake/t")
    assert iceberg["catalog"].value == "fake-catalog"
    assert "dagster/column_lineage" in iceberg
    # The numbers users watch are int/float entries, which Dagit plots over materializations.
    starrocks = result.asset_materializations_for_node(assets[2].node_def.name)[0].metadata
    assert starrocks["dagster/row_count"] == dg.MetadataValue.int(3)
    assert starrocks["filtered_rows"] == dg.MetadataValue.int(0) and starrocks["loads"] == dg.MetadataValue.int(1)
    assert starrocks["duration_s"] == dg.MetadataValue.float(1.5)
    assert starrocks["rows_per_s"] == dg.MetadataValue.float(2.0)
    # Nullability as the step read it back from the layer's table; SQL Server's in the description.
    columns = {c.name: c for c in starrocks["dagster/column_schema"].schema.columns}
    assert columns["customer_id"].constraints.nullable is False
    assert columns["name"].constraints.nullable is True and columns["_ingested_at"].constraints.nullable is True
    assert columns["customer_id"].description == "SQL Server INT [customer_id] NOT NULL"
    assert columns["name"].description == "SQL Server NVARCHAR(50) [name]"
    # Each layer's description opens with its title: the graph writes only the key's last part.
    assert [a.descriptions_by_key[k].split("\n\n")[0] for a, k in zip(assets, keys.all)] == [
        "Raw landing of `demo.dbo.customers`", "Iceberg table of `demo.dbo.customers`",
        "StarRocks table of `demo.dbo.customers`"]
    # The table's run lock was taken (and released when the run ended).
    assert (tmp_path / "locks").is_dir() and any((tmp_path / "locks").iterdir())
    assert table_lock_name(customers) == "demo_dbo.customers"


def test_a_permanent_failure_names_table_and_step_and_is_not_retried(tmp_path, customers):
    steps = FakeSteps(fail_at="to_starrocks", error=sch.SchemaError("column note is too long"))
    assets = _build_table_assets(plan=customers, keys=table_keys(customers), steps=steps)
    result = dg.materialize(assets, resources=fake_resources(tmp_path), raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert len(failures) == 1
    assert failures[0].step_failure_data.error.message.strip().endswith(
        "demo.dbo.customers: column note is too long [starrocks load]")
    assert [c[0] for c in steps.calls] == ["extract", "to_iceberg", "to_starrocks"]  # no retry


MODES_FILE = """\
database: demo
tables:
  - {schema: dbo, name: full_t, key_columns: [id]}
  - {schema: dbo, name: watermark_t, key_columns: [id], load_mode: incremental, watermark_column: rv}
  - {schema: dbo, name: ct_t, key_columns: [id], load_mode: change_tracking}
"""


@pytest.mark.parametrize("mode", ["full", "incremental", "change_tracking"])
def test_every_load_mode_builds_the_same_three_step_chain_and_runs_it(tmp_path, mode):
    path = tmp_path / "tables.yaml"
    path.write_text(MODES_FILE)
    plan = next(p for p in load_plans(path) if p.load_mode == mode)
    keys = table_keys(plan)
    steps = FakeSteps()
    raw, iceberg, starrocks = _build_table_assets(plan=plan, keys=keys, steps=steps)
    assert (raw.key, iceberg.key, starrocks.key) == (keys.raw, keys.iceberg, keys.starrocks)
    assert iceberg.asset_deps[keys.iceberg] == {keys.raw} and starrocks.asset_deps[keys.starrocks] == {keys.iceberg}
    assert raw.metadata_by_key[keys.raw]["load_mode"] == mode
    assert dg.materialize([raw, iceberg, starrocks], resources=fake_resources(tmp_path)).success
    assert [c[:2] for c in steps.calls] == [(s, plan.source_label) for s in ("extract", "to_iceberg", "to_starrocks")]
