"""What a load path is: how the rows of an Iceberg snapshot reach StarRocks.

The decisions around a load stay in lib/pipeline (which snapshot, full reload or delta, schema
changes, recording the snapshot loaded); a load path only moves rows: a full reload into a
staging table that is swapped in, or a delta applied by key to the primary-key table. One
module per path (see __init__); each refuses the settings it cannot run with, in one message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar

if TYPE_CHECKING:
    from mssql_starrocks.lake import iceberg as ice
    from mssql_starrocks.lib.config import TablePlan
    from mssql_starrocks.mapping.schema import TableSchemaPlan
    from mssql_starrocks.target.starrocks import StarRocksClient
    from mssql_starrocks.target.stream_load import LoadOutcome


class LoadPathError(ValueError):
    """Settings a load path cannot run with (no retry can fix them); the message says what to set."""


@dataclass(frozen=True)
class LoadJob:
    """One table's StarRocks step: the Iceberg snapshot to load and where it goes."""

    spark: Any
    client: StarRocksClient
    plan: TablePlan
    source: str  # the Iceberg table, as Spark names it
    landing: str  # its landing table, as Spark names it
    landing_name: str  # the landing's table name in the namespace (Glue / StarRocks)
    snapshot: ice.Snapshot
    schema_plan: TableSchemaPlan
    run_id: str
    log: Callable[[str], None]
    region: str | None = None  # the lake's AWS region (for the DDL a message shows)

    @property
    def database(self) -> str:
        return self.plan.namespace

    @property
    def table(self) -> str:
        return self.plan.table


class LoadPath:
    name: ClassVar[str]
    # The snapshot loaded is recorded after every load, not only after deltas (so checks and
    # the next delta know exactly which snapshot StarRocks holds).
    records_every_load: ClassVar[bool] = False
    # What the StarRocks step's description says the path does (Dagit).
    description: ClassVar[str]

    def refusal(self, *, iceberg_catalog_type: str, starrocks_catalog: str | None) -> str | None:
        """Why this path cannot run with these settings (None: it can). No I/O."""
        return None

    def preflight(self, job: LoadJob) -> None:
        """Refuse, before anything is written to StarRocks, a load that cannot succeed."""

    def full_reload(self, job: LoadJob) -> LoadOutcome:
        """The whole snapshot into a fresh staging table, verified and swapped in atomically."""
        raise NotImplementedError

    def apply_delta(self, job: LoadJob, chain: list[ice.Snapshot]) -> tuple[str, LoadOutcome | None]:
        """Apply the changes of `chain` (the Iceberg commits since the snapshot StarRocks holds)
        by key: (what was done, its outcome), or (why not, None) to ask for a full reload.
        Re-applying a delta is harmless (upserts and deletes by key)."""
        raise NotImplementedError
