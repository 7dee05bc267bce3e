"""Helpers for whole-chain tests: environment, definitions, runs, and direct reads of each layer."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def environ(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def product_env(devservers: dict[str, str], work: Path, tables_file: Path, **extra: str) -> dict[str, str]:
    """Settings the product reads: the stand-ins' env-file lines plus local Spark/Iceberg paths."""
    env = dict(devservers)
    env.update({
        "MSSQL_STARROCKS_TABLES_FILE": str(tables_file),
        "ICEBERG_CATALOG_TYPE": "local",
        "ICEBERG_LOCAL_DIR": str(work / "iceberg"),
        "SPARK_MASTER": "local[2]",
        "SPARK_SHUFFLE_PARTITIONS": "2",
    })
    env.update(extra)
    return env


def load_definitions() -> dg.Definitions:
    """Fresh Definitions for the current environment (tables file + resources re-read)."""
    from mssql_starrocks.lib import tables

    tables._cached.cache_clear()
    from mssql_starrocks import definitions

    lazy = definitions.defs
    loaded = lazy.load() if hasattr(lazy, "load") else lazy()
    return loaded


def run_assets(defs: dg.Definitions, selection: str | list[dg.AssetKey], instance: dg.DagsterInstance,
               raise_on_error: bool = True):
    """Materialize the selection (with the checks of the selected assets) in one run."""
    job = defs.resolve_implicit_global_asset_job_def()
    if isinstance(selection, str):
        keys = list(dg.AssetSelection.from_string(selection).resolve(defs.resolve_asset_graph()))
    else:
        keys = list(selection)
    return job.execute_in_process(instance=instance, asset_selection=keys, raise_on_error=raise_on_error)


def run_checks(defs: dg.Definitions, checks: list[dg.AssetCheckKey], instance: dg.DagsterInstance):
    """Run only these asset checks (no materialization), as CI or Dagit's "Execute checks" does."""
    job = dg.define_asset_job("checks_only", selection=dg.AssetSelection.checks(*checks))
    merged = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    return merged.resolve_job_def("checks_only").execute_in_process(instance=instance, raise_on_error=False)


def check_results(result) -> dict[str, object]:
    """check key (user string) -> AssetCheckEvaluation for every check evaluated in the run."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            out[ev.asset_check_key.to_user_string()] = ev
    return out


def materializations(result) -> dict[str, dict]:
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def materialization_entries(result) -> dict[str, dict[str, dg.MetadataValue]]:
    """asset key -> its materialization's metadata as stored (MetadataValue objects, as Dagit reads them)."""
    out = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            out[mat.asset_key.to_user_string()] = dict(mat.metadata)
    return out


def step_seconds(instance: dg.DagsterInstance, run_id: str, step_key: str) -> float:
    """Wall time of a step from its STEP_START to its STEP_SUCCESS event in the event log."""
    times = {e.dagster_event.event_type_value: e.timestamp for e in instance.all_logs(run_id)
             if e.dagster_event and e.dagster_event.step_key == step_key
             and e.dagster_event.event_type_value in ("STEP_START", "STEP_SUCCESS")}
    return times["STEP_SUCCESS"] - times["STEP_START"]


def cli(args: list[str], env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **env}
    return subprocess.run(args, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def python_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def mssql_rows(devservers: dict[str, str], sql: str, database: str = "demo") -> list[tuple]:
    import pymssql

    conn = pymssql.connect(server=devservers["MSSQL_HOST"], port=devservers["MSSQL_PORT"],
                           user=devservers["MSSQL_USER"], password=devservers["MSSQL_PASSWORD"],
                           database=database, autocommit=True, tds_version="7.4")
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def starrocks_rows(devservers: dict[str, str], sql: str) -> list[tuple]:
    import pymysql

    conn = pymysql.connect(host=devservers["STARROCKS_HOST"], port=int(devservers["STARROCKS_QUERY_PORT"]),
                           user=devservers["STARROCKS_USER"], password=devservers["STARROCKS_PASSWORD"],
                           autocommit=True, charset="utf8mb4")
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return list(cur.fetchall()) if cur.description else []
    finally:
        conn.close()


def pyiceberg_glue_catalog(devservers: dict[str, str], name: str = "glue", **extra: str):
    """pyiceberg's GlueCatalog on the S3 + Glue stand-in: an Iceberg reader/writer independent of the product."""
    from pyiceberg.catalog.glue import GlueCatalog

    endpoint = devservers["AWS_ENDPOINT_URL"]
    return GlueCatalog(name, **{
        "glue.endpoint": endpoint, "glue.region": devservers["AWS_REGION"],
        "glue.access-key-id": devservers["AWS_ACCESS_KEY_ID"],
        "glue.secret-access-key": devservers["AWS_SECRET_ACCESS_KEY"],
        "s3.endpoint": endpoint, "s3.region": devservers["AWS_REGION"],
        "s3.access-key-id": devservers["AWS_ACCESS_KEY_ID"],
        "s3.secret-access-key": devservers["AWS_SECRET_ACCESS_KEY"],
        "s3.force-virtual-addressing": "false",
        **extra,
    })
