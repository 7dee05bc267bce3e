"""Row-count checks between the layers of each table, read live from each layer.

raw:       full extract: SQL Server's COUNT_BIG(*) taken at extract time = rows landed.
           delta extract: the changed rows SQL Server counted for the extract's range (plus keys
           found deleted by delete detection) = rows landed.
iceberg:   full load: rows in the Iceberg snapshot = rows in the landing snapshot it came from.
           merge: rows in the Iceberg snapshot = SQL Server's row count at extract time.
lag:       SQL Server's live COUNT_BIG(*) vs rows in the current Iceberg snapshot: a source that moved
           on since the last load is a lag (WARN), within the tables file's
           checks.source_lag_tolerance_rows/_percent a pass that says how far behind the lake is.
starrocks: COUNT(*) of the live StarRocks table = rows in the Iceberg snapshot StarRocks loaded
           (the one its load recorded, else the current one; exact, ERROR).
profile:   per column, SQL Server vs StarRocks: non-null counts, MIN/MAX of exact numeric and
           DATE columns, distinct keys (one aggregate query each side, see mapping/profile.py).

Exact comparisons fail the check with ERROR severity (blocking the next layer). Comparisons that
rows written to SQL Server during the run can legitimately disturb (delta ranges, a merged
table against a live source) report WARN instead. A failing check says both counts and where.
Every check also runs on its own, outside a materialization (`mssql-starrocks verify`, the
`verify_<group>` jobs): a table never loaded gives a failed WARN check "not loaded yet".
"""

import dagster as dg
from pyspark.sql import functions as F

from mssql_starrocks.defs.migration.resources import IcebergResource, MssqlResource, SparkResource, StarRocksResource
from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.lake import state
from mssql_starrocks.lib import pipeline
from mssql_starrocks.lib.config import TablePlan
from mssql_starrocks.lib.tables import TableKeys, configured_tables, table_keys
from mssql_starrocks.mapping import profile as prof
from mssql_starrocks.mapping.names import quote_backtick
from mssql_starrocks.source.extract import source_schema
from mssql_starrocks.target import stream_load


NOT_LOADED = "not loaded yet"


def not_loaded(what: str, metadata: dict | None = None) -> dg.AssetCheckResult:
    """A table never materialized (checks run on their own, e.g. `mssql-starrocks verify`): a
    failed WARN check saying so, not a crash."""
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                               description=f"{NOT_LOADED}: {what}; materialize the asset first",
                               metadata=metadata or {})


def _when(committed_at) -> str:
    return committed_at.strftime("%Y-%m-%d %H:%M:%S UTC") if hasattr(committed_at, "strftime") else str(committed_at)


def source_lag_result(*, source_rows: int, snapshot_rows: int, snapshot_time, tolerance: int,
                      where: str) -> dg.AssetCheckResult:
    """SQL Server's live row count against the Iceberg snapshot's: a source that moved on since the
    last load is a lag (WARN, within `tolerance` rows a pass), not an error."""
    lag = source_rows - snapshot_rows
    when = _when(snapshot_time)
    if lag == 0:
        description = f"SQL Server and the Iceberg snapshot of {when} both have {source_rows:,} rows"
    else:
        description = (f"SQL Server has {abs(lag):,} {'more' if lag > 0 else 'fewer'} rows than the Iceberg "
                       f"snapshot of {when} ({source_rows:,} vs {snapshot_rows:,}; tolerance {tolerance:,}"
                       f"{'' if abs(lag) <= tolerance else ', exceeded'})")
    return dg.AssetCheckResult(
        passed=abs(lag) <= tolerance, severity=dg.AssetCheckSeverity.WARN, description=description,
        metadata={"sql_server_rows": source_rows, "iceberg_rows": snapshot_rows, "lag_rows": lag,
                  "tolerance_rows": tolerance, "where": where})


def _count_result(*, left_name: str, left: int | None, right_name: str, right: int | None,
                  severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
                  extra: dict | None = None) -> dg.AssetCheckResult:
    passed = left is not None and right is not None and left == right
    if left is None or right is None:
        missing = left_name if left is None else right_name
        return not_loaded(f"{missing} is not available",
                          {left_name: -1 if left is None else left, right_name: -1 if right is None else right,
                           **(extra or {})})
    elif passed:
        description = f"{left_name} = {right_name} = {left}"
    else:
        description = f"{left_name} = {left} but {right_name} = {right} (difference {left - right:+d})"
    return dg.AssetCheckResult(
        passed=passed, severity=severity, description=description,
        metadata={left_name: -1 if left is None else left, right_name: -1 if right is None else right,
                  **(extra or {})},
    )


def _current(spark: SparkResource, iceberg: IcebergResource, table_of) -> tuple:
    catalog = iceberg.get_client()
    session = spark.spark_session
    catalog.attach(session)
    table = table_of(catalog)
    snap = ice.last_own_snapshot(session, table) if ice.table_exists(session, table) else None
    return session, catalog, table, snap


def _loaded_snapshot(session, client, plan: TablePlan, table: str, current):
    """The Iceberg snapshot StarRocks holds: the one its load recorded (delta modes and the
    catalog path record it), else the current one."""
    loaded_id = stream_load.loaded_snapshot(client, plan.namespace, plan.table)
    if loaded_id is None or (current is not None and loaded_id == current.snapshot_id):
        return current
    try:
        return ice.snapshot_by_id(session, table, loaded_id)
    except RuntimeError:  # expired since: compare with the current snapshot
        return current


ICEBERG_ROWS, SOURCE_LAG = "row_count_matches_raw", "source_lag_within_tolerance"
STARROCKS_ROWS, PROFILE = "row_count_matches_iceberg", "column_profile_matches_source"


def _step_name(asset: dg.AssetKey) -> str:
    """The step of an asset's checks: `checks__<asset key>` (one step per layer of a table)."""
    return "checks__" + asset.to_python_identifier()


def _layer_checks(asset: dg.AssetKey, description: str, blocking: tuple[str, str], other: tuple[str, str]):
    """One step judging a layer's two checks (name, description): the first blocks the next layer
    when it fails with ERROR; either runs alone when selected alone (verify, Dagit)."""
    specs = [dg.AssetCheckSpec(blocking[0], asset=asset, blocking=True, description=blocking[1]),
             dg.AssetCheckSpec(other[0], asset=asset, description=other[1])]
    return dg.multi_asset_check(specs=specs, name=_step_name(asset), can_subset=True, description=description)


def _selected(context: dg.AssetCheckExecutionContext) -> set[str]:
    return {key.name for key in context.selected_asset_check_keys}


def _keyed(result: dg.AssetCheckResult, asset: dg.AssetKey, name: str) -> dg.AssetCheckResult:
    """A result of a step that evaluates several checks names its check."""
    return dg.AssetCheckResult(asset_key=asset, check_name=name, passed=result.passed, severity=result.severity,
                               description=result.description, metadata=result.metadata)


def _evaluate(asset: dg.AssetKey, checks, wanted: set[str]):
    """The results of the selected `(name, evaluate)` checks of a step, in order. A check that
    raises does not keep the others from their verdict; the step then fails with its error (a
    check that could not run has no result, as when it is a step of its own)."""
    error = None
    for name, evaluate in checks:
        if name not in wanted:
            continue
        try:
            result = evaluate()
        except Exception as exc:  # noqa: BLE001 - raised after the other checks
            error = error or exc
            continue
        yield _keyed(result, asset, name)
    if error is not None:
        raise error


def _build_table_checks(*, plan: TablePlan, keys: TableKeys) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(asset=keys.raw, name="row_count_matches_source", blocking=True,
                    description="Rows landed = rows SQL Server counted for the extract (whole table or change range)")
    def raw_check(spark: SparkResource, iceberg: IcebergResource) -> dg.AssetCheckResult:
        session, _, landing, snap = _current(spark, iceberg, lambda c: pipeline.raw_table(c, plan))
        summary = snap.summary if snap else {}
        where = {"where": f"{plan.source_label} -> {landing}"}
        if state.is_delta(summary):
            expected = int(summary[state.CHANGE_COUNT])
            if plan.spec.delete_detection:
                expected += session.read.option("snapshot-id", str(snap.snapshot_id)).table(landing).where(
                    F.col(state.CHANGE_OP) == "D").count()
            return _count_result(left_name="sql_server_changed_rows", left=expected, right_name="landed_rows",
                                 right=snap.total_records, severity=dg.AssetCheckSeverity.WARN, extra=where)
        source = int(summary[state.SOURCE_COUNT]) if snap else None
        return _count_result(left_name="sql_server_rows", left=source, right_name="landed_rows",
                             right=snap.total_records if snap else None, extra=where)

    def iceberg_rows(session, catalog, table: str, snap) -> dg.AssetCheckResult:
        extra = {"where": table, "snapshot_id": str(snap.snapshot_id) if snap else ""}
        if snap and state.is_delta(snap.summary):
            source = snap.summary.get(state.SOURCE_COUNT)
            return _count_result(left_name="sql_server_rows", left=int(source) if source else None,
                                 right_name="iceberg_rows", right=snap.total_records,
                                 severity=dg.AssetCheckSeverity.WARN, extra=extra)
        raw_rows = None
        if snap and state.RAW_SNAPSHOT in snap.summary:
            try:
                raw_snap = ice.snapshot_by_id(session, pipeline.raw_table(catalog, plan),
                                              int(snap.summary[state.RAW_SNAPSHOT]))
            except RuntimeError as exc:  # the landing snapshot expired (or the landing was dropped) since
                return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN,
                                           description=f"cannot compare with the landing: {exc}", metadata=extra)
            raw_rows = raw_snap.total_records
        return _count_result(left_name="landed_rows", left=raw_rows, right_name="iceberg_rows",
                             right=snap.total_records if snap else None, extra=extra)

    def lag(mssql: MssqlResource, table: str, snap) -> dg.AssetCheckResult:
        where = f"{plan.source_label} -> {table}"
        if snap is None:
            return not_loaded(f"{table} has no snapshot", {"where": where})
        source_rows = int(mssql.get_client(plan.database).query(
            f"SELECT COUNT_BIG(*) FROM {plan.source_qualified_tsql}")[0][0])
        return source_lag_result(source_rows=source_rows, snapshot_rows=snap.total_records,
                                 snapshot_time=snap.committed_at,
                                 tolerance=plan.checks.lag_tolerance(snap.total_records), where=where)

    @_layer_checks(keys.iceberg, "The Iceberg table's checks, on one read of its current snapshot",
                   (ICEBERG_ROWS, "Rows in the current Iceberg snapshot = the landing it came from (full) or "
                                  "SQL Server's count at extract time (merge)"),
                   (SOURCE_LAG, "SQL Server's live row count vs the current Iceberg snapshot's: a lag (WARN) "
                                "beyond the tables file's checks.source_lag_tolerance_*"))
    def iceberg_checks(context: dg.AssetCheckExecutionContext, spark: SparkResource, iceberg: IcebergResource,
                       mssql: MssqlResource):
        wanted = _selected(context)
        session, catalog, table, snap = _current(spark, iceberg, lambda c: pipeline.iceberg_table(c, plan))
        yield from _evaluate(keys.iceberg, [
            (ICEBERG_ROWS, lambda: iceberg_rows(session, catalog, table, snap)),
            (SOURCE_LAG, lambda: lag(mssql, table, snap)),
        ], wanted)

    def starrocks_rows(session, client, table: str, current, sr_rows: int | None) -> dg.AssetCheckResult:
        snap = _loaded_snapshot(session, client, plan, table, current)
        # Pinned to the snapshot StarRocks holds (recorded by the load): the metadata says which.
        moved_on = snap is not None and current is not None and current.snapshot_id != snap.snapshot_id
        return _count_result(left_name="iceberg_rows", left=snap.total_records if snap else None,
                             right_name="starrocks_rows", right=sr_rows,
                             extra={"where": f"{table} -> starrocks {plan.namespace}.{plan.table}",
                                    "snapshot_id": str(snap.snapshot_id) if snap else "",
                                    "snapshot_committed_at": _when(snap.committed_at) if snap else "",
                                    **({"iceberg_current_snapshot_id": str(current.snapshot_id)} if moved_on else {})})

    def profile(source, target, target_columns: set[str]):
        """(result, StarRocks' row count): the profile's first measure is each side's COUNT(*)."""
        schema_plan = source_schema(source, plan)
        ms = prof.measures(schema_plan, target_columns)
        target_table = f"{quote_backtick(plan.namespace)}.{quote_backtick(plan.table)}"
        queries = prof.profile_queries(ms, schema_plan, source_table=plan.source_qualified_tsql,
                                       target_table=target_table)
        labels = list(queries.labels)
        src_vals, dst_vals = list(source.query(queries.tsql)[0]), list(target.execute(queries.starrocks)[0])
        diffs = prof.compare(labels, src_vals, dst_vals)
        # Rows written to SQL Server after the extract change its side legitimately: then WARN.
        live = plan.mode.profile_is_live(int(src_vals[0]), int(dst_vals[0]))
        where = f"{plan.source_label} -> starrocks {plan.namespace}.{plan.table}"
        lag = int(src_vals[0]) - int(dst_vals[0])
        # SQL Server moved on since the load by no more than the tables file's lag tolerance: a lag.
        lagging = bool(diffs) and live and lag != 0 and abs(lag) <= plan.checks.lag_tolerance(int(dst_vals[0]))
        if diffs:
            description = f"{len(diffs)} of {len(labels)} measures differ ({where}): " + "; ".join(diffs[:10])
            if lagging:
                description = (f"SQL Server has {abs(lag):,} {'more' if lag > 0 else 'fewer'} rows than StarRocks, "
                               "within the lag tolerance: " + description)
        else:
            description = f"{len(labels)} measures equal on both sides ({len(ms) - 1} column measures)"
        return dg.AssetCheckResult(
            passed=not diffs or lagging,
            severity=dg.AssetCheckSeverity.WARN if live else dg.AssetCheckSeverity.ERROR,
            description=description,
            metadata={"measures": len(labels), "differences": len(diffs), "where": where,
                      "profile": dg.MetadataValue.md(
                          "| measure | SQL Server | StarRocks |\n| --- | --- | --- |\n" + "\n".join(
                              f"| {lab} | {s} | {t} |" for lab, s, t in zip(labels, src_vals, dst_vals)))},
        ), int(dst_vals[0])

    @_layer_checks(keys.starrocks, "The StarRocks table's checks, on one aggregate query per side",
                   (STARROCKS_ROWS, "COUNT(*) of the StarRocks table = rows in the current Iceberg snapshot"),
                   (PROFILE, "Per column, SQL Server = StarRocks: non-null counts, min/max of exact numeric "
                             "and date columns, distinct keys"))
    def starrocks_checks(context: dg.AssetCheckExecutionContext, spark: SparkResource, iceberg: IcebergResource,
                         starrocks: StarRocksResource, mssql: MssqlResource):
        wanted = _selected(context)
        target = starrocks.get_client()
        # One information_schema query: a table has at least one column, so none means no table.
        target_columns = {name for name, _ in target.columns(plan.namespace, plan.table)}
        profiled: dict = {}

        def profile_result() -> dg.AssetCheckResult:
            if not target_columns:
                return not_loaded(f"starrocks {plan.namespace}.{plan.table} does not exist")
            if "error" in profiled:
                raise profiled["error"]
            if "result" not in profiled:
                try:
                    profiled["result"], profiled["rows"] = profile(mssql.get_client(plan.database), target,
                                                                   target_columns)
                except Exception as exc:  # noqa: BLE001 - kept, so it is raised once more, not re-run
                    profiled["error"] = exc
                    raise
            return profiled["result"]

        def rows_result() -> dg.AssetCheckResult:
            sr_rows = None
            if target_columns:  # the profile's COUNT(*) when it ran, else a COUNT(*) of its own
                sr_rows = profiled["rows"] if "rows" in profiled else target.count(plan.namespace, plan.table)
            session, _, table, current = _current(spark, iceberg, lambda c: pipeline.iceberg_table(c, plan))
            return starrocks_rows(session, target, table, current, sr_rows)

        if PROFILE in wanted:  # first, so the row count check reuses its COUNT(*) ...
            try:
                profile_result()
            except Exception:  # noqa: BLE001 - ... and is judged even when the profile cannot run
                pass
        yield from _evaluate(keys.starrocks, [(STARROCKS_ROWS, rows_result), (PROFILE, profile_result)], wanted)

    return [raw_check, iceberg_checks, starrocks_checks]


@dg.definitions
def defs() -> dg.Definitions:
    checks: list[dg.AssetChecksDefinition] = []
    for plan in configured_tables():
        checks.extend(_build_table_checks(plan=plan, keys=table_keys(plan)))
    return dg.Definitions(asset_checks=checks)
