"""One asset factory: every table in the tables file becomes raw -> iceberg -> starrocks.

Keys are stable and readable: `raw/<db>/<schema>/<table>` (the run-scoped landing in Iceberg),
`iceberg/<db>/<schema>/<table>` (the Glue/Iceberg table) and `starrocks/<db>/<schema>/<table>`,
grouped by source database + schema. The work itself lives in `mssql_starrocks.lib.pipeline`;
the assets add what Dagit shows: row counts, bytes, durations, snapshot ids, load results, and
the column schema with SQL Server, Iceberg and StarRocks types side by side.
"""


from contextlib import contextmanager

import dagster as dg
from dagster import AssetExecutionContext

from mssql_starrocks.defs.migration.resources import (
    IcebergResource, MssqlResource, SparkResource, StarRocksResource, TableLocksResource,
)
from mssql_starrocks.lib import failures, pipeline
from mssql_starrocks.lib.config import TablePlan
from mssql_starrocks.lib.tables import (
    LAYER_KIND, LAYER_TITLE, STEP_OF_LAYER, TableKeys, configured_tables, table_keys, table_lock_name, table_pool,
)
from mssql_starrocks.mapping.schema import TableSchemaPlan


def column_schema(schema_plan: TableSchemaPlan, layer: str, nullable: dict[str, bool] | None) -> dg.TableSchema:
    """The layer's columns for Dagit's Columns table. `nullable` is read back from the table the
    step wrote (the landing's, the Iceberg table's or StarRocks' own schema), since each layer has
    its own rule: the Iceberg table makes every column optional and StarRocks only its key NOT
    NULL, whatever SQL Server declared; SQL Server's own NOT NULL is in the description. Without
    it (a step that read no table back) Dagit shows no nullability rather than a guessed one."""
    columns = []
    for c in schema_plan.columns:
        type_name = {"raw": c.spark_type, "iceberg": c.iceberg_type, "starrocks": c.starrocks_type}[layer]
        origin = (f"SQL Server {c.source_type} [{c.source_name}]" + ("" if c.nullable else " NOT NULL")
                  if c.source_name else c.note)
        constraints = None
        if nullable is not None and c.name in nullable:
            constraints = dg.TableColumnConstraints(nullable=nullable[c.name], unique=False)
        columns.append(dg.TableColumn(
            name=c.name, type=type_name, description=origin + (f"; {c.note}" if c.note and c.source_name else ""),
            constraints=constraints,
        ))
    return dg.TableSchema(columns=columns)


def column_lineage(schema_plan: TableSchemaPlan, upstream: dg.AssetKey) -> dg.TableColumnLineage:
    return dg.TableColumnLineage(deps_by_column={
        c.name: [dg.TableColumnDep(asset_key=upstream, column_name=c.name)] for c in schema_plan.columns
    })


def type_table_markdown(schema_plan: TableSchemaPlan) -> str:
    lines = ["| column | SQL Server | Iceberg | StarRocks | note |", "| --- | --- | --- | --- | --- |"]
    for c in schema_plan.columns:
        lines.append(f"| {c.name} | {c.source_type or '(added)'} | {c.iceberg_type} | {c.starrocks_type} | {c.note} |")
    return "\n".join(lines)


def _schema_metadata(schema_plan: TableSchemaPlan | None, layer: str, upstream: dg.AssetKey | None,
                     nullable: dict[str, bool] | None = None) -> dict:
    if schema_plan is None:
        return {}
    meta = {
        "dagster/column_schema": column_schema(schema_plan, layer, nullable),
        "type_mapping": dg.MetadataValue.md(type_table_markdown(schema_plan)),
    }
    if upstream is not None:
        meta["dagster/column_lineage"] = column_lineage(schema_plan, upstream)
    return meta


def _description(plan: TablePlan, layer: str) -> str:
    """Its first line is the layer's title (LAYER_TITLE): all three assets of a chain end their key
    with the table's name, which is all Dagit's graph writes on a node; the description facet of
    the graph and the asset's page show this line under it."""
    what = {
        "raw": "Run-scoped landing of the SQL Server table (Iceberg table, replaced atomically per extract).",
        "iceberg": "Iceberg table registered in the catalog (Glue in production), replaced atomically per load.",
        "starrocks": plan.load_path.description,
    }[layer]
    parts = [f"{LAYER_TITLE[layer]} of `{plan.source_label}`", what]
    if plan.spec.description:
        parts.append(plan.spec.description)
    if plan.spec.key_columns:
        parts.append("Key: " + ", ".join(plan.spec.key_columns))
    if plan.spec.row_estimate is not None:
        parts.append(f"About {plan.spec.row_estimate:,} rows (SQL Server's estimate when discovered).")
    return "\n\n".join(parts)


# Transient faults (a dropped connection, a timeout) are retried with backoff: every step is safe
# to repeat (the landing and StarRocks tables are replaced atomically, merges and labelled loads
# are idempotent). Problems a retry cannot fix (lib/failures.py lists their classes) fail at once,
# with their message as the failure.
RETRY = dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def _summary(exc: BaseException) -> str:
    """One line for a failure: the Java root cause of a Spark/JDBC error, else the message."""
    chain = _java_causes(exc)
    if chain:
        try:
            first, cause = str(chain[0].toString()), str(chain[-1].toString())
            return first if cause == first else f"{first.splitlines()[0]} (caused by {cause.splitlines()[0]})"
        except Exception:  # noqa: BLE001 - the JVM may be gone
            pass
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if len(text) > 2000 else text


def _java_causes(exc: BaseException, limit: int = 20) -> list:
    """The JVM exception behind a py4j error or a PySpark captured exception, then its causes."""
    java = getattr(exc, "java_exception", None) or getattr(exc, "_origin", None)
    chain = []
    while java is not None and len(chain) < limit:
        chain.append(java)
        try:
            java = java.getCause()
        except Exception:  # noqa: BLE001 - the JVM may be gone
            break
    return chain


def _aws_error_code(exc: BaseException) -> str | None:
    """The AWS error code (e.g. AccessDenied) of the first AWS service exception in the Java causes."""
    for java in _java_causes(exc):
        try:
            details = java.awsErrorDetails()  # only AwsServiceException has it
            if details is not None and details.errorCode():
                return str(details.errorCode())
        except Exception:  # noqa: BLE001 - not an AWS exception (py4j says no such method)
            pass
    return None


@contextmanager
def _failures(table: str, step: str):
    """Every failure of a step names its table and step. Permanent ones (bad schema, missing
    table, refused rows) fail without retries; transient ones (deadlock, timeout, connection
    lost, StarRocks busy) go back to the retry policy, as does anything unexpected."""
    try:
        yield
    except dg.Failure:
        raise
    except failures.PERMANENT_TYPES as exc:
        message = str(exc) if table in str(exc) else f"{table}: {exc}"
        if getattr(exc, "transient", False):
            raise RuntimeError(f"{message} [{step}; transient, retried]") from None
        raise dg.Failure(description=f"{message} [{step}]", allow_retries=False) from None
    except Exception as exc:  # noqa: BLE001
        summary = _summary(exc)
        code = _aws_error_code(exc)
        kind = failures.permanent_class(exc, summary, code)
        if kind:
            detail = f"AWS {code}: not retried" if code in failures.AWS_PERMANENT else f"{kind}: not retried"
            raise dg.Failure(description=f"{table}: {step} failed: {summary} [{step}; {detail}]",
                             allow_retries=False) from None
        raise RuntimeError(f"{table}: {step} failed: {summary}") from exc


ID_KEYS = {"raw_snapshot_id", "snapshot_id", "iceberg_snapshot_id", "previous_snapshot_id", "watermark", "ct_version"}


def _step_metadata(result: pipeline.StepResult, layer: str, upstream: dg.AssetKey | None) -> dict:
    """A step's numbers as Dagit metadata: every count, duration and rate an int or float entry,
    which Dagit plots over the materializations (the asset's Metadata "Plots" view and the
    graph's sidebar); 64-bit ids stay exact as text, never plotted."""
    meta: dict = {"dagster/row_count": dg.MetadataValue.int(int(result.metadata["row_count"]))}
    for key, value in result.metadata.items():
        if key == "row_count":
            continue
        if key in ID_KEYS:
            meta[key] = dg.MetadataValue.text(str(value))
        elif key == "table_location":
            meta[key] = dg.MetadataValue.path(value)
        elif isinstance(value, list):
            meta[key] = dg.MetadataValue.json(value)
        elif isinstance(value, bool):
            meta[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            meta[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            meta[key] = dg.MetadataValue.float(value)
        else:
            meta[key] = value
    meta.update(_schema_metadata(result.schema, layer, upstream, result.nullable))
    return meta


def _build_table_assets(*, plan: TablePlan, keys: TableKeys, steps=pipeline) -> list[dg.AssetsDefinition]:
    """raw -> iceberg -> starrocks for one table; `steps` does the work (lib/pipeline; tests pass fakes)."""
    common = dict(group_name=plan.group, metadata={"source_table": plan.source_label, "load_mode": plan.load_mode},
                  retry_policy=RETRY, owners=list(plan.owners))
    # Dagster's pool of the table (a limit in dagster.yaml queues runs in Dagit); the table lock
    # below keeps one run per table at a time whatever the instance's configuration.
    pool = table_pool(plan)
    lock_name = table_lock_name(plan)

    def lock(context: AssetExecutionContext, locks: TableLocksResource, step: str) -> None:
        with _failures(plan.source_label, step):
            locks.hold(lock_name, label=plan.source_label, run_id=context.run.run_id, step=step, log=context.log.info)

    extract_step, commit_step, load_step = (STEP_OF_LAYER[layer] for layer in ("raw", "iceberg", "starrocks"))

    @dg.asset(key=keys.raw, kinds={"mssql", "spark", "iceberg", LAYER_KIND["raw"]}, description=_description(plan, "raw"),
              tags=plan.asset_tags("raw"), pool=pool, **common)
    def raw(context: AssetExecutionContext, spark: SparkResource, mssql: MssqlResource,
            iceberg: IcebergResource, locks: TableLocksResource) -> dg.MaterializeResult:
        lock(context, locks, extract_step)
        with _failures(plan.source_label, extract_step):
            result = steps.extract(spark.spark_session, mssql=mssql.settings(), iceberg=iceberg.get_client(),
                                      plan=plan, run_id=context.run.run_id, log=context.log.info,
                                      warn=context.log.warning)
        return dg.MaterializeResult(metadata=_step_metadata(result, "raw", None))

    @dg.asset(key=keys.iceberg, deps=[keys.raw], kinds={"spark", "iceberg", LAYER_KIND["iceberg"]},
              description=_description(plan, "iceberg"), tags=plan.asset_tags("iceberg"), pool=pool, **common)
    def iceberg_table(context: AssetExecutionContext, spark: SparkResource,
                      iceberg: IcebergResource, locks: TableLocksResource) -> dg.MaterializeResult:
        lock(context, locks, commit_step)
        catalog = iceberg.get_client()
        session = spark.spark_session
        raw_snapshot_id = steps.landing_snapshot_id(session, iceberg=catalog, plan=plan)
        if raw_snapshot_id is None:
            raise RuntimeError(f"{plan.source_label}: no landing table yet; "
                               f"materialize {keys.raw.to_user_string()} first")
        with _failures(plan.source_label, commit_step):
            result = steps.to_iceberg(session, iceberg=catalog, plan=plan, raw_snapshot_id=raw_snapshot_id,
                                      run_id=context.run.run_id, log=context.log.info)
        return dg.MaterializeResult(metadata={**_step_metadata(result, "iceberg", keys.raw),
                                              "catalog": catalog.display})

    @dg.asset(key=keys.starrocks, deps=[keys.iceberg], kinds={"spark", "starrocks", LAYER_KIND["starrocks"]},
              description=_description(plan, "starrocks"), tags=plan.asset_tags("starrocks"), pool=pool,
              **common)
    def starrocks_table(context: AssetExecutionContext, spark: SparkResource, iceberg: IcebergResource,
                        starrocks: StarRocksResource, locks: TableLocksResource) -> dg.MaterializeResult:
        lock(context, locks, load_step)
        with _failures(plan.source_label, load_step):
            result = steps.to_starrocks(spark.spark_session, iceberg=iceberg.get_client(),
                                        starrocks=starrocks.settings(), plan=plan, run_id=context.run.run_id,
                                        log=context.log.info)
        return dg.MaterializeResult(metadata=_step_metadata(result, "starrocks", keys.iceberg))

    return [raw, iceberg_table, starrocks_table]


@dg.definitions
def defs() -> dg.Definitions:
    assets: list[dg.AssetsDefinition] = []
    for plan in configured_tables():
        assets.extend(_build_table_assets(plan=plan, keys=table_keys(plan)))
    return dg.Definitions(assets=assets)
