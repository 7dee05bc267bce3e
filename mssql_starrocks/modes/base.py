"""What a load mode is: the interface every mode implements, and what they share.

A table's `load_mode` (tables file) picks one `LoadMode`; it decides, per run, what the extract
reads and the state it reaches (`plan_extract`), how the Iceberg table takes the rows
(`iceberg_commit`), whether StarRocks can take a delta or is reloaded (`applies_deltas`), how
strict the checks are (`profile_is_live`) and whether Spark Connect can run it. The I/O itself
lives in lib/pipeline and the system modules; modes only decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from mssql_starrocks.lake import state
from mssql_starrocks.mapping.names import quote_tsql
from mssql_starrocks.source.mssql import SourceError

if TYPE_CHECKING:
    from mssql_starrocks.lib.config import TablePlan
    from mssql_starrocks.source.mssql import MssqlClient
    from mssql_starrocks.mapping.schema import TableSchemaPlan


class ModeError(ValueError):
    """A tables-file entry its load mode cannot run (config turns it into a TablesFileError)."""


@dataclass(frozen=True)
class ExtractPlan:
    kind: str  # state.RUN_FULL | state.RUN_DELTA
    query: str  # T-SQL selecting the landed columns (+ CHANGE_OP for delta modes)
    state: dict[str, str]  # summary entries this extract reaches (watermark / ct_version)
    reason: str  # why full, or what range is read

    @property
    def is_delta(self) -> bool:
        return self.kind == state.RUN_DELTA

    @property
    def count_query(self) -> str:
        return f"SELECT COUNT_BIG(*) FROM ({self.query}) AS q"


# How the Iceberg table takes a run's rows.
OVERWRITE = "overwrite"  # every row replaced in one atomic commit
MERGE = "merge"  # MERGE INTO by key (upserts and deletes)
SYNC = "sync"  # MERGE of the whole table by key: rows gone from SQL Server are deleted


class LoadMode:
    name: ClassVar[str]
    # Rows are merged by key: the landing carries CHANGE_OP, Iceberg MERGEs, StarRocks takes deltas.
    merges_by_key: ClassVar[bool] = True
    # Why Spark Connect cannot run the mode (None: it can).
    spark_connect_refusal: ClassVar[str | None] = None
    # plan_extract reads the state committed with the Iceberg table (a watermark, a change-tracking
    # version); a mode that reads the whole table every run does not, and skips looking it up.
    reads_committed_state: ClassVar[bool] = True

    def validate(self, plan: TablePlan) -> None:
        """Refuse a tables-file entry this mode cannot run (raises ModeError)."""
        where = f"table {plan.spec.qualified}"
        spec = plan.spec
        if self.merges_by_key and not spec.key_columns:
            raise ModeError(f"{where}: load_mode {self.name} needs key_columns (rows are merged by key)")
        self.validate_options(plan, where)
        if self.merges_by_key and plan.starrocks.model == "duplicate":
            raise ModeError(f"{where}: load_mode {self.name} upserts and deletes by key, which needs "
                            "starrocks.model primary_key (not duplicate)")

    def validate_options(self, plan: TablePlan, where: str) -> None:
        """The mode's own options: by default, refuse the watermark mode's."""
        if plan.spec.watermark_column or plan.spec.delete_detection:
            field = "watermark_column" if plan.spec.watermark_column else "delete_detection"
            raise ModeError(f"{where}: {field} only applies to load_mode incremental (this table is {self.name})")

    def plan_extract(self, client: MssqlClient, plan: TablePlan, schema_plan: TableSchemaPlan,
                     committed: dict[str, str], *, schema_changed: bool) -> ExtractPlan:
        """Decide what this run reads, from the committed state and the source's current position."""
        raise NotImplementedError

    def detects_deletes(self, plan: TablePlan, extract: ExtractPlan) -> bool:
        """Whether the extract adds delete markers for keys gone from SQL Server (a full key scan)."""
        return False

    def landing_summary(self, extract: ExtractPlan) -> dict[str, str]:
        """The state entries the landing snapshot records for the Iceberg commit."""
        entries = {state.KIND: extract.kind, **extract.state}
        if self.merges_by_key and not extract.is_delta:
            entries[state.FULL_REASON] = extract.reason
        return entries

    def iceberg_commit(self, run_kind: str, *, table_created: bool) -> str:
        """OVERWRITE, MERGE or SYNC: how the Iceberg table takes the landed rows of this run."""
        if run_kind == state.RUN_DELTA:
            return MERGE
        # A full reload of a merged table synchronises by key: rows gone from SQL Server are
        # deleted, columns dropped there keep their values (see lake/commits).
        return SYNC if self.merges_by_key and not table_created else OVERWRITE

    @property
    def applies_deltas(self) -> bool:
        """StarRocks takes only the changes since the snapshot it loaded (else a full reload)."""
        return self.merges_by_key

    def profile_is_live(self, source_rows: int, target_rows: int) -> bool:
        """Whether SQL Server may legitimately differ from StarRocks (rows written after the
        extract): then the column profile check only warns."""
        return self.merges_by_key or source_rows != target_rows

    def reason_for_full(self) -> str:
        return f"{self.name} load mode"


# --- T-SQL the modes share --------------------------------------------------------------------
def source_table(plan: TablePlan) -> str:
    return f"{quote_tsql(plan.source_schema)}.{quote_tsql(plan.source_table)}"


def select_list(schema_plan: TableSchemaPlan) -> str:
    return ", ".join(f"{c.select_sql} AS {quote_tsql(c.name)}" for c in schema_plan.data_columns)


def full_query(plan: TablePlan, schema_plan: TableSchemaPlan, *, with_op: bool) -> str:
    op = f", 'I' AS {quote_tsql(state.CHANGE_OP)}" if with_op else ""
    return f"SELECT {select_list(schema_plan)}{op} FROM {source_table(plan)}"


def keys_query(plan: TablePlan, schema_plan: TableSchemaPlan) -> str:
    """Every key of the source, converted as the targets hold it (for delete detection)."""
    cols = ", ".join(f"{schema_plan.column(k).select_sql} AS {quote_tsql(k)}" for k in schema_plan.key_columns)
    return f"SELECT {cols} FROM {source_table(plan)}"


def base_type(schema_plan: TableSchemaPlan, source_column: str) -> str:
    for c in schema_plan.data_columns:
        if c.source_name == source_column:
            return c.base_type
    raise SourceError(f"table {schema_plan.table_label}: column [{source_column}] does not exist in SQL Server")
