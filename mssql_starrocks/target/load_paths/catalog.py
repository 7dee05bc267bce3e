"""load_path catalog: StarRocks reads the Iceberg snapshot itself, through an Iceberg external
catalog its administrator created on the same Glue (or REST) catalog the product writes to.

The BE nodes read the Parquet files from S3 in parallel and each statement is one transaction;
the product's own processes move no row. StarRocks holds the lake credentials (its instance
profile or role, set by its administrator); the product never puts keys into StarRocks DDL and
creates no catalog, it only checks, before writing anything, that StarRocks sees the tables.

- Full reload: `INSERT INTO <staging> SELECT ... FROM <catalog>.<db>.<table>`, then the staging
  table's count is checked against the snapshot and swapped in (target/staging).
- Delta (incremental / change_tracking, primary-key table): the keys of the landing snapshot
  behind the Iceberg commit are applied by key: `DELETE ... WHERE key IN (SELECT ...)` for keys
  the Iceberg table no longer holds, `INSERT INTO ... SELECT` (an upsert on a primary-key
  table) for the rows it holds. Both are idempotent, so a re-run after a kill neither loses
  nor doubles a row; the snapshot is recorded only after both.

StarRocks 3.3 has no time travel for Iceberg (`FOR VERSION AS OF` arrives in 3.4): it reads a
table's current snapshot. So the product proves the snapshot did not move: the Iceberg table's
(and landing's) current snapshot id, read through the product's own catalog, must be the one
being loaded before and after the statements; otherwise the load fails and its retry redoes
it. StarRocks caches Iceberg metadata (its snapshot pointer) by default: a catalog without
`"enable_iceberg_metadata_cache" = "false"` is refused (SHOW CREATE CATALOG), and row counts
StarRocks sees are compared with the snapshots' before a delta (README: Choosing the load path).
"""

from __future__ import annotations

import re

from mssql_starrocks.lake import iceberg as ice
from mssql_starrocks.lake import state
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping.names import quote_backtick as q
from mssql_starrocks.target import staging
from mssql_starrocks.target.load_paths.base import LoadJob, LoadPath, LoadPathError
from mssql_starrocks.target.starrocks import StarRocksClient
from mssql_starrocks.target.stream_load import LoadOutcome

CATALOG_SETTING = "STARROCKS_ICEBERG_CATALOG"


class ExternalCatalogMissing(RuntimeError):
    """StarRocks does not see the Iceberg table through its external catalog (no retry fixes it)."""


class CatalogCachesMetadata(LoadPathError):
    """The external catalog caches Iceberg metadata, so what StarRocks reads is not provably the
    committed snapshot (a setting of the catalog: no retry fixes it)."""


_NO_METADATA_CACHE = re.compile(r'"enable_iceberg_metadata_cache"\s*=\s*"false"', re.I)


class SnapshotMoved(RuntimeError):
    """The Iceberg table got a new snapshot while StarRocks read it: the retry redoes the load."""


def catalog_ddl(name: str, region: str | None) -> str:
    """The documented DDL for an Iceberg catalog on AWS Glue with the cluster's instance profile
    (no keys), metadata read fresh on every query."""
    region = region or "<aws_region>"
    return (f'CREATE EXTERNAL CATALOG {name} PROPERTIES ("type" = "iceberg", "iceberg.catalog.type" = "glue", '
            f'"aws.glue.use_instance_profile" = "true", "aws.glue.region" = "{region}", '
            f'"aws.s3.use_instance_profile" = "true", "aws.s3.region" = "{region}", '
            f'"enable_iceberg_metadata_cache" = "false")')


def external_table(catalog: str, database: str, table: str) -> str:
    return f"{q(catalog)}.{q(database)}.{q(table)}"


def session_statements() -> list[str]:
    """Session settings of every load: Iceberg timestamptz read as UTC (as Stream Load's
    `timezone: UTC`). How long one INSERT may run is StarRocks' `query_timeout` (300 s unless
    the administrator raises it for the loading user, see README)."""
    return ["SET time_zone = '+00:00'"]


def _columns(schema_plan: sch.TableSchemaPlan, alias: str | None = None) -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + q(c.name) for c in schema_plan.starrocks_order())


def _key_match(schema_plan: sch.TableSchemaPlan, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{q(k)} = {right}.{q(k)}" for k in schema_plan.key_columns)


def full_insert_sql(database: str, target: str, source: str, schema_plan: sch.TableSchemaPlan) -> str:
    """Every row of the external Iceberg table `source` into `database.target`."""
    return (f"INSERT INTO {q(database)}.{q(target)} ({_columns(schema_plan)}) "
            f"SELECT {_columns(schema_plan, 't')} FROM {source} AS t")


def upsert_sql(database: str, table: str, source: str, landing: str, schema_plan: sch.TableSchemaPlan) -> str:
    """The rows of `source` whose key the landing lists, inserted (upserted by the primary key)."""
    keys = ", ".join(q(k) for k in schema_plan.key_columns)
    return (f"INSERT INTO {q(database)}.{q(table)} ({_columns(schema_plan)}) "
            f"SELECT {_columns(schema_plan, 't')} FROM {source} AS t "
            f"JOIN (SELECT DISTINCT {keys} FROM {landing}) AS c ON {_key_match(schema_plan, 't', 'c')}")


def delete_sql(database: str, table: str, source: str, landing: str, schema_plan: sch.TableSchemaPlan) -> str:
    """Delete the keys the landing lists that `source` no longer holds (primary-key tables take a
    subquery in DELETE ... WHERE, and a USING clause for a composite key)."""
    keys = list(schema_plan.key_columns)
    gone = (f"SELECT DISTINCT {', '.join('r.' + q(k) for k in keys)} FROM {landing} AS r "
            f"LEFT JOIN {source} AS t ON {_key_match(schema_plan, 'r', 't')} WHERE t.{q(keys[0])} IS NULL")
    if len(keys) == 1:
        return f"DELETE FROM {q(database)}.{q(table)} WHERE {q(keys[0])} IN ({gone})"
    return (f"DELETE FROM {q(database)}.{q(table)} USING ({gone}) AS gone "
            f"WHERE {_key_match(schema_plan, q(table), 'gone')}")


class ExternalCatalogUnreachable(RuntimeError):
    """StarRocks has the catalog but cannot list the table's database through it (its metastore,
    Glue or REST, is down or unreachable from StarRocks): nothing was written, and a retry may
    find it back."""

    transient = True


def _unknown_database(error: RuntimeError) -> bool:
    return "error 1049" in str(error)  # MySQL's ER_BAD_DB_ERROR: "Unknown database '<name>'"


def catalog_ddl_of(client: StarRocksClient, catalog: str) -> str:
    """SHOW CREATE CATALOG's DDL; ExternalCatalogMissing (listing the catalogs StarRocks has) if
    StarRocks has no such catalog. One statement when the catalog is there."""
    try:
        rows = client.execute(f"SHOW CREATE CATALOG {q(catalog)}")
    except RuntimeError:
        catalogs = [str(r[0]) for r in client.execute("SHOW CATALOGS")]
        if catalog not in catalogs:
            raise ExternalCatalogMissing(f"StarRocks has no catalog {catalog} (it has: {', '.join(catalogs)})") from None
        raise
    return " ".join(str(v) for row in rows for v in row)


def visible_tables(client: StarRocksClient, catalog: str, database: str) -> list[str]:
    """The tables StarRocks lists in `catalog`.`database` (a catalog it has): ExternalCatalogMissing
    if it has no such database, ExternalCatalogUnreachable if it cannot list it otherwise."""
    try:
        return [str(r[0]) for r in client.execute(f"SHOW TABLES FROM {q(catalog)}.{q(database)}")]
    except RuntimeError as exc:
        if _unknown_database(exc):
            raise ExternalCatalogMissing(f"StarRocks cannot list database {database} of catalog {catalog}: {exc}") \
                from None
        raise ExternalCatalogUnreachable(f"StarRocks has catalog {catalog} but cannot list its database {database}: "
                                         f"{exc}") from None


def refuse_cached_metadata(catalog: str, ddl: str) -> None:
    """Refuse a catalog that caches Iceberg metadata (its DDL, SHOW CREATE CATALOG's): StarRocks
    could then read a snapshot older than the one just committed (its snapshot pointer is
    cached), with nothing to tell."""
    if not _NO_METADATA_CACHE.search(ddl):
        raise CatalogCachesMetadata(
            f"StarRocks' external catalog {catalog} caches Iceberg metadata (SHOW CREATE CATALOG has no "
            '"enable_iceberg_metadata_cache" = "false"), so StarRocks could read an older snapshot than the one '
            "committed. The StarRocks administrator re-creates it with that property (DROP CATALOG, then "
            f"{catalog_ddl(catalog, None)}); or use starrocks.load_path stream_load")


def describe_catalog(client: StarRocksClient, catalog: str) -> str:
    """One line for `mssql-starrocks check`: StarRocks sees the catalog, reads its metadata fresh,
    and how many databases it lists."""
    catalogs = [str(r[0]) for r in client.execute("SHOW CATALOGS")]
    if catalog not in catalogs:
        raise ExternalCatalogMissing(f"StarRocks has no catalog {catalog} (it has: {', '.join(catalogs)}); "
                                     f"create it ({catalog_ddl(catalog, None)}) or correct {CATALOG_SETTING}")
    refuse_cached_metadata(catalog, catalog_ddl_of(client, catalog))
    databases = client.execute(f"SHOW DATABASES FROM {q(catalog)}")
    return f"StarRocks sees external catalog {catalog} ({len(databases)} database(s), metadata read fresh)"


class CatalogPath(LoadPath):
    name = "catalog"
    records_every_load = True
    description = ("StarRocks table loaded by StarRocks itself from the Iceberg snapshot, through its Iceberg "
                   "external catalog (INSERT INTO ... SELECT), and swapped in atomically.")

    def refusal(self, *, iceberg_catalog_type: str, starrocks_catalog: str | None) -> str | None:
        if iceberg_catalog_type == "local":
            return ("StarRocks cannot read the local Iceberg catalog (a SQLite file on this machine): use "
                    "ICEBERG_CATALOG_TYPE=glue and an Iceberg external catalog in StarRocks on the same Glue catalog, "
                    "or starrocks.load_path stream_load")
        if not starrocks_catalog:
            return (f"{CATALOG_SETTING} is not set: name the Iceberg external catalog StarRocks reads the lake "
                    "through (README: Choosing the load path), or use starrocks.load_path stream_load")
        return None

    # --- before anything is written ---------------------------------------------------------
    def preflight(self, job: LoadJob) -> None:
        catalog = self._catalog(job)
        wanted = [job.table] + ([job.landing_name] if job.plan.mode.applies_deltas else [])
        try:
            ddl = catalog_ddl_of(job.client, catalog)
            tables = visible_tables(job.client, catalog, job.database)
            missing = [t for t in wanted if t not in tables]
            if missing:
                raise ExternalCatalogMissing(f"SHOW TABLES FROM {catalog}.{job.database} does not list "
                                             f"{', '.join(missing)}")
            refuse_cached_metadata(catalog, ddl)
        except CatalogCachesMetadata as exc:
            raise CatalogCachesMetadata(f"{job.plan.source_label}: {exc}. Nothing was written to StarRocks") from None
        except ExternalCatalogUnreachable as exc:
            raise ExternalCatalogUnreachable(
                f"{job.plan.source_label}: StarRocks cannot read Iceberg table(s) "
                f"{', '.join(f'{job.database}.{t}' for t in wanted)} through its external catalog {catalog} "
                f"(starrocks.load_path catalog): {exc}. Nothing was written to StarRocks. The catalog's metastore "
                f"(its Glue or REST endpoint, SHOW CREATE CATALOG {catalog}) is down or unreachable from StarRocks; "
                "the step is retried, and if it persists the StarRocks administrator repairs the endpoint or the "
                "network, or re-creates the catalog; or give the table starrocks.load_path stream_load") from None
        except ExternalCatalogMissing as exc:
            raise ExternalCatalogMissing(
                f"{job.plan.source_label}: StarRocks cannot read Iceberg table(s) "
                f"{', '.join(f'{job.database}.{t}' for t in wanted)} through its external catalog {catalog} "
                f"(starrocks.load_path catalog): {exc}. Nothing was written to StarRocks. The StarRocks administrator "
                f"creates the catalog on the Glue catalog the lake is registered in, with the cluster's instance "
                f"profile (no keys): {catalog_ddl(catalog, job.region)}; or give the table starrocks.load_path "
                "stream_load") from None

    def _catalog(self, job: LoadJob) -> str:
        catalog = job.client.settings.iceberg_catalog
        if not catalog:
            raise LoadPathError(f"{job.plan.source_label}: {self.refusal(iceberg_catalog_type='glue', starrocks_catalog=None)}")
        return catalog

    # --- proving the snapshot ----------------------------------------------------------------
    def _positions(self, job: LoadJob, with_landing: bool) -> tuple:
        """The current snapshot ids of the Iceberg table (and landing), read afresh through the
        product's catalog."""
        tables = (job.source, job.landing) if with_landing else (job.source,)
        return tuple(ice.current_snapshot_id(job.spark, table) for table in tables)

    def _pinned(self, job: LoadJob, statements: list[str], landing_id: int | None) -> list[int]:
        """Run `statements` in one session, proving the snapshots StarRocks reads are the ones
        loaded: the same current snapshot ids before and after."""
        expected = (job.snapshot.snapshot_id,) + ((landing_id,) if landing_id is not None else ())

        def check(when: str) -> None:
            now = self._positions(job, landing_id is not None)
            if now != expected:
                raise SnapshotMoved(
                    f"{job.plan.source_label}: the Iceberg snapshot moved {when} StarRocks read it "
                    f"(expected {expected}, current {now}); StarRocks 3.3 reads only a table's current snapshot, "
                    "so this load is not proven and is redone by the retry")

        check("before")
        session = session_statements()
        affected = job.client.run_in_session(session + statements)[len(session):]
        check("while")
        return affected

    # --- loads ----------------------------------------------------------------------------------
    def full_reload(self, job: LoadJob) -> LoadOutcome:
        catalog = self._catalog(job)
        options = job.plan.starrocks
        staging_table = staging.fresh_staging(
            job.client, schema_plan=job.schema_plan, database=job.database, table=job.table, model=options.model,
            buckets=options.buckets, replication_num=options.replication_num, comment=job.plan.spec.description,
            run_id=job.run_id, table_label=job.plan.source_label, log=job.log)
        source = external_table(catalog, job.database, job.table)
        try:
            inserted, = self._pinned(job, [full_insert_sql(job.database, staging_table, source, job.schema_plan)],
                                     landing_id=None)
        except Exception:
            job.client.drop_table(job.database, staging_table)
            raise
        staging.swap_in(job.client, database=job.database, table=job.table, staging=staging_table,
                        expected_rows=job.snapshot.total_records, snapshot_id=job.snapshot.snapshot_id,
                        table_label=job.plan.source_label)
        return LoadOutcome([_result(f"INSERT INTO staging SELECT FROM {source}", inserted)], f"catalog {catalog}")

    def apply_delta(self, job: LoadJob, chain):
        catalog = self._catalog(job)
        if len(chain) != 1:
            return (f"{len(chain)} Iceberg commits since the snapshot StarRocks holds; through the catalog StarRocks "
                    "reads only the landing's current snapshot (no time travel before StarRocks 3.4)"), None
        raw_id = chain[0].summary.get(state.RAW_SNAPSHOT)
        landing_now = ice.current_snapshot_id(job.spark, job.landing)
        if raw_id is None or int(raw_id) != landing_now:
            return (f"the landing snapshot behind the delta ({raw_id}) is no longer the landing's current one "
                    f"({landing_now})"), None
        source = external_table(catalog, job.database, job.table)
        landing = external_table(catalog, job.database, job.landing_name)
        self._same_counts(job, [(source, job.snapshot.total_records),
                                (landing, ice.snapshot_by_id(job.spark, job.landing, int(raw_id)).total_records)])
        statements = [delete_sql(job.database, job.table, source, landing, job.schema_plan),
                      upsert_sql(job.database, job.table, source, landing, job.schema_plan)]
        deleted, upserted = self._pinned(job, statements, landing_id=int(raw_id))
        outcome = LoadOutcome([_result(f"DELETE keys gone, from {landing}", deleted, loaded=False),
                               _result(f"INSERT (upsert) rows of changed keys, from {source}", upserted)],
                              f"catalog {catalog}")
        return f"{upserted} row(s) upserted from landing snapshot {raw_id} through catalog {catalog}", outcome

    def _same_counts(self, job: LoadJob, tables: list[tuple[str, int]]) -> None:
        """StarRocks sees the snapshots' row counts (a stale metadata cache would not)."""
        for table, expected in tables:
            seen = int(job.client.execute(f"SELECT COUNT(*) FROM {table}")[0][0])
            if seen != expected:
                raise SnapshotMoved(
                    f"{job.plan.source_label}: StarRocks sees {seen} rows in {table} but the Iceberg snapshot has "
                    f"{expected}: its Iceberg metadata cache is stale. Nothing was written; the retry asks again. "
                    'Create the catalog with "enable_iceberg_metadata_cache" = "false" to read fresh metadata')


def _result(what: str, rows: int, *, loaded: bool = True) -> dict:
    """One statement, as the StarRocks step's metadata lists loads."""
    return {"partition": 0, "label": what, "status": "OK", "loaded": rows if loaded else 0, "filtered": 0,
            "total": rows, "bytes": 0, "reused": False, "message": ""}
