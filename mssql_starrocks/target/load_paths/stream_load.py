"""load_path stream_load (the default): Spark reads the Iceberg snapshot and sends its rows to
StarRocks by Stream Load (JSON over HTTP), see target/stream_load. Works with any Iceberg
catalog, local included, and StarRocks needs no access to the lake."""

from __future__ import annotations

from mssql_starrocks.source import splits
from mssql_starrocks.target import stream_load
from mssql_starrocks.target.load_paths.base import LoadJob, LoadPath


class StreamLoadPath(LoadPath):
    name = "stream_load"
    description = "StarRocks table loaded from the Iceberg snapshot by Stream Load and swapped in atomically."

    def full_reload(self, job: LoadJob) -> stream_load.LoadOutcome:
        options = job.plan.starrocks
        return stream_load.full_reload(
            job.spark, client=job.client, source=job.source, snapshot=job.snapshot, schema_plan=job.schema_plan,
            database=job.database, table=job.table, model=options.model, buckets=options.buckets,
            replication_num=options.replication_num, comment=job.plan.spec.description, run_id=job.run_id,
            table_label=job.plan.source_label, log=job.log)

    def apply_delta(self, job: LoadJob, chain):
        frame = stream_load.delta_frame(job.spark, source=job.source, snapshot_id=job.snapshot.snapshot_id,
                                        raw_table=job.landing, chain=chain, schema_plan=job.schema_plan)
        if frame is None:
            return "a landing snapshot behind the delta is missing", None
        frame = frame.cache()
        count = frame.count()
        outcome = stream_load.apply_delta(frame, client=job.client, database=job.database, table=job.table,
                                          target_snapshot_id=job.snapshot.snapshot_id, schema_plan=job.schema_plan,
                                          partitions=splits.wanted_splits(count, 1, "auto"),
                                          table_label=job.plan.source_label)
        frame.unpersist()
        return f"{count} changed row(s) from {len(chain)} Iceberg commit(s)", outcome
