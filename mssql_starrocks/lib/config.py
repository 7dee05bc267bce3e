"""The tables file: which SQL Server tables migrate, and how.

It is validated completely when definitions load (before any run), and every problem is
reported in one message naming the file, the table and the field. Column names used in keys
are checked against the table's `columns` list, which `mssql-starrocks discover` writes from
the SQL Server catalog; at run time the extract checks the same names against the live
catalog before any data moves.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mssql_starrocks.mapping import names
from mssql_starrocks.mapping import typemap

DEFAULT_TABLES_FILE = "tables.yaml"
TABLES_FILE_ENV = "MSSQL_STARROCKS_TABLES_FILE"


class TablesFileError(ValueError):
    """A tables file that cannot be used; the message names the file, table and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnSpec(_Strict):
    """A source column as discovered from SQL Server's catalog."""

    name: str
    type: str
    max_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True

    def to_source(self, ordinal: int) -> typemap.SourceColumn:
        return typemap.SourceColumn(
            name=self.name, data_type=self.type.lower(), max_length=self.max_length,
            precision=self.precision, scale=self.scale, nullable=self.nullable, ordinal=ordinal,
        )


class ExtractOptions(_Strict):
    fetch_size: int = Field(50_000, gt=0)
    # "auto": split on an integer key with bounds from the catalog; an int forces that many.
    num_partitions: int | Literal["auto"] = "auto"
    isolation: Literal["read_committed", "snapshot", "read_uncommitted"] = "read_committed"


LoadMode = Literal["full", "incremental", "change_tracking"]

# Tags the project sets on every asset (see `asset_tags`); the tables file cannot override them.
PROJECT_TAGS = ("layer", "load_mode", "source_database", "source_schema", "source_table")
_TAG_KEY = re.compile(r"^([A-Za-z0-9_.-]{1,63}/)?[A-Za-z0-9_.-]{1,63}$")
_TAG_VALUE = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,7}")


def _check_owners(value: list[str] | None) -> list[str] | None:
    """Dagster's owner rule (an email or `team:<name>`), checked here so the error names the table."""
    for owner in value or []:
        if not (_EMAIL.fullmatch(owner) or (owner.startswith("team:") and len(owner) > 5)):
            raise ValueError(f"'{owner}' is not an owner: use an email address or 'team:<name>'")
    if value is not None and len(set(value)) != len(value):
        raise ValueError(f"{value} lists an owner twice")
    return value


def _check_tags(value: dict[str, str]) -> dict[str, str]:
    """Dagster's strict asset tag rules, checked here so the error names the table and the tag."""
    for key, tag in value.items():
        if key in PROJECT_TAGS or key.startswith("dagster/"):
            raise ValueError(f"tag '{key}' is set by the project and cannot be configured")
        if not _TAG_KEY.match(key):
            raise ValueError(f"tag key '{key}' is not valid (letters, digits, '_', '-', '.', "
                             "optionally one 'namespace/' prefix; at most 63 characters each)")
        if not _TAG_VALUE.match(tag):
            raise ValueError(f"tag {key}: value '{tag}' is not valid (letters, digits, '_', '-', '.'; "
                             "at most 63 characters)")
    return value


class StarRocksOptions(_Strict):
    # Default: primary_key when the table has key_columns, else duplicate.
    model: Literal["duplicate", "primary_key"] | None = None
    buckets: int | None = Field(None, gt=0, le=1024)
    replication_num: int | None = Field(None, gt=0, le=9)


class MaintenanceOptions(_Strict):
    """Iceberg upkeep of a table: an optional compaction asset (rewrite_data_files), on a cron."""

    compaction: bool = False
    schedule: str | None = None  # cron (UTC) for the compaction asset; null = run it by hand

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _check_cron(value)

    @model_validator(mode="after")
    def _schedule_needs_compaction(self) -> "MaintenanceOptions":
        if self.schedule and not self.compaction:
            raise ValueError("schedule is set but compaction is false (nothing to schedule)")
        return self


class ChecksOptions(_Strict):
    """How the asset checks judge a table (see defs/migration/checks.py).

    SQL Server moving on after the last load is a lag, not an error: the live row count may differ
    from the Iceberg snapshot's by up to `source_lag_tolerance_rows` rows, or
    `source_lag_tolerance_percent` percent of the snapshot's rows (the larger of the two), and the
    check passes saying so; beyond that it fails with WARN severity. Lake vs StarRocks stays exact.
    `schedule` (defaults only): cron (UTC) of the `verify_<group>` checks-only jobs; null = off.
    """

    source_lag_tolerance_rows: int = Field(0, ge=0)
    source_lag_tolerance_percent: float = Field(0.0, ge=0, le=100)
    schedule: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _check_cron(value)

    def lag_tolerance(self, snapshot_rows: int) -> int:
        """Rows the live source may differ from a snapshot of `snapshot_rows` rows."""
        return max(self.source_lag_tolerance_rows, int(snapshot_rows * self.source_lag_tolerance_percent / 100))


class Defaults(_Strict):
    load_mode: LoadMode = "full"
    schedule: str | None = None
    extract: ExtractOptions = ExtractOptions()
    starrocks: StarRocksOptions = StarRocksOptions()
    maintenance: MaintenanceOptions = MaintenanceOptions()
    checks: ChecksOptions = ChecksOptions()
    owners: list[str] = []  # Dagster asset owners: emails or team:<name>
    tags: dict[str, str] = {}

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        return _check_owners(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_tags(value)


class TableSpec(_Strict):
    schema_: str = Field(alias="schema")
    name: str
    load_mode: LoadMode | None = None
    key_columns: list[str] = []
    partition_column: str | None = None
    # incremental: the column whose value grows on every insert/update (ROWVERSION, a
    # modified-at datetime, or an identity key), and how far back to re-read late datetimes.
    watermark_column: str | None = None
    lookback_seconds: int = Field(0, ge=0)
    # incremental without change tracking: compare key sets to find deleted rows (a full key scan).
    delete_detection: bool = False
    schedule: str | None = None
    extract: ExtractOptions | None = None
    starrocks: StarRocksOptions | None = None
    maintenance: MaintenanceOptions | None = None
    checks: ChecksOptions | None = None  # its schedule is the defaults' (one per group)
    rename: dict[str, str] = {}
    exclude_columns: list[str] = []  # not migrated (e.g. a huge blob StarRocks cannot hold)
    description: str | None = None
    row_estimate: int | None = None
    # None = the defaults' owners; [] = no owners. Tags are merged over the defaults' tags.
    owners: list[str] | None = None
    tags: dict[str, str] = {}
    columns: list[ColumnSpec] | None = None
    # Where it lands; defaults derive from the source names (see `target_*`).
    namespace: str | None = None
    target_name: str | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _check_cron(value)

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str] | None) -> list[str] | None:
        return _check_owners(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_tags(value)

    @field_validator("rename")
    @classmethod
    def _rename_targets(cls, value: dict[str, str]) -> dict[str, str]:
        for source, target in value.items():
            if names.to_target_name(target) != target:
                raise ValueError(
                    f"rename target '{target}' for column [{source}] is not a Glue-safe name "
                    f"(lowercase letters, digits, underscores); '{names.to_target_name(target)}' would be"
                )
        return value

    @field_validator("checks")
    @classmethod
    def _checks_schedule(cls, value: ChecksOptions | None) -> ChecksOptions | None:
        if value is not None and value.schedule is not None:
            raise ValueError("schedule is set per group in defaults.checks.schedule, not per table")
        return value

    @model_validator(mode="after")
    def _columns_known(self) -> "TableSpec":
        if len(set(self.key_columns)) != len(self.key_columns):
            raise ValueError(f"key_columns: {self.key_columns} lists a column twice")
        for col in self.exclude_columns:
            if col in self.key_columns or col == self.watermark_column:
                raise ValueError(f"exclude_columns: '{col}' is a key or watermark column and cannot be excluded")
        if self.columns is None:
            return self
        known = [c.name for c in self.columns]
        if len(set(known)) != len(known):
            raise ValueError("columns: a column is listed twice")
        for field, col in self.unknown_columns(known):
            raise ValueError(f"{field}: unknown column '{col}' (the table has: {', '.join(known)})")
        return self

    def unknown_columns(self, known: list[str]) -> list[tuple[str, str]]:
        """(field, column) for every column this entry names that is not in `known`."""
        out = []
        for field, cols in (("key_columns", self.key_columns),
                            ("partition_column", [self.partition_column] if self.partition_column else []),
                            ("watermark_column", [self.watermark_column] if self.watermark_column else []),
                            ("rename", list(self.rename)),
                            ("exclude_columns", self.exclude_columns)):
            out += [(field, col) for col in cols if col not in known]
        return out

    @property
    def qualified(self) -> str:
        return f"{self.schema_}.{self.name}"


class TablesFile(_Strict):
    version: Literal[1] = 1
    database: str = Field(min_length=1)
    defaults: Defaults = Defaults()
    tables: list[TableSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "TablesFile":
        seen: set[tuple[str, str]] = set()
        for table in self.tables:
            key = (table.schema_.lower(), table.name.lower())
            if key in seen:
                raise ValueError(f"table {table.qualified} is listed twice")
            seen.add(key)
        return self

    @field_validator("defaults")
    @classmethod
    def _default_cron(cls, value: Defaults) -> Defaults:
        _check_cron(value.schedule)
        return value


def _check_cron(value: str | None) -> str | None:
    if value is None:
        return None
    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(value):
        raise ValueError(f"'{value}' is not a valid cron schedule (five fields, e.g. '0 2 * * *')")
    return value


def _format_error(path: Path, raw: dict, error: ValidationError) -> str:
    lines = []
    for err in error.errors():
        loc = list(err["loc"])
        where = ""
        if len(loc) >= 2 and loc[0] == "tables" and isinstance(loc[1], int):
            try:
                entry = raw["tables"][loc[1]]
                where = f"table {entry.get('schema', '?')}.{entry.get('name', '?')}"
            except (KeyError, IndexError, TypeError, AttributeError):
                where = f"tables[{loc[1]}]"
            loc = loc[2:]
        field = ".".join(str(p) for p in loc if p != "schema_")
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(": ".join(part for part in (str(path), where, field, msg) if part))
    return "\n".join(lines)


def tables_file_path(path: str | Path | None = None) -> Path:
    return Path(path or os.environ.get(TABLES_FILE_ENV) or DEFAULT_TABLES_FILE)


def load_plans(path: str | Path | None = None) -> list["TablePlan"]:
    """The validated tables file as plans (defaults applied); errors name the file."""
    path = tables_file_path(path)
    try:
        loaded = [p.model_copy(update={"tables_file": str(path)}) for p in plans(load_tables_file(path))]
    except TablesFileError as exc:
        text = str(exc)
        raise TablesFileError(text if text.startswith(str(path)) else f"{path}: {text}") from None
    _check_listed_columns(loaded)
    return loaded


def _check_listed_columns(loaded: list["TablePlan"]) -> None:
    """Refuse, when definitions load, the entries whose own `columns` list cannot be migrated
    (every column excluded, a type the project cannot carry, names colliding): what `plan`
    refuses from the file, a run never starts on. Entries without `columns` are checked
    against the live catalog by the extract, with the same rules (TablePlan.schema_plan)."""
    from mssql_starrocks.mapping.schema import SchemaError

    problems = []
    for plan in loaded:
        listed = plan.listed_columns
        if listed is None:
            continue
        try:
            plan.schema_plan(listed)
        except SchemaError as exc:
            text = str(exc)
            problems.append(text if text.startswith(str(plan.tables_file)) else
                            f"{plan.tables_file}: table {plan.spec.qualified}: columns: {text}; "
                            "list such columns under exclude_columns (or rename them), or remove the table")
    if problems:
        raise TablesFileError("\n".join(problems))


def load_tables_file(path: str | Path | None = None) -> TablesFile:
    """Parse and validate the tables file; raises TablesFileError with one clear message."""
    path = tables_file_path(path)
    if not path.exists():
        raise TablesFileError(
            f"{path}: tables file not found (set {TABLES_FILE_ENV}, or write one with `mssql-starrocks discover`)"
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise TablesFileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise TablesFileError(f"{path}: expected a mapping with 'database' and 'tables'")
    try:
        parsed = TablesFile.model_validate(raw)
    except ValidationError as exc:
        raise TablesFileError(_format_error(path, raw, exc)) from None
    return parsed


# ---------------------------------------------------------------------------------------------
# Effective settings of one table (defaults applied) and its target names.


class TablePlan(BaseModel):
    """One table with defaults applied: what the asset factory builds from."""

    model_config = ConfigDict(frozen=True)

    database: str
    spec: TableSpec
    load_mode: str
    schedule: str | None
    extract: ExtractOptions
    starrocks: StarRocksOptions
    maintenance: MaintenanceOptions = MaintenanceOptions()
    checks: ChecksOptions = ChecksOptions()
    owners: tuple[str, ...] = ()
    tags: dict[str, str] = {}

    def asset_tags(self, layer: str) -> dict[str, str]:
        """The configured tags plus the project's own: layer, load mode and the source's
        (Glue-safe, so valid Dagster tag values) database, schema and table names."""
        return {**self.tags, "layer": layer, "load_mode": self.load_mode,
                **{f"source_{what}": names.to_target_name(value)[:63] for what, value in
                   (("database", self.database), ("schema", self.spec.schema_), ("table", self.spec.name))}}
    tables_file: str | None = None  # where this entry came from, for messages

    def schema_plan(self, columns: list[typemap.SourceColumn]):
        """The targets' schema for these SQL Server columns: excluded columns left out, renames
        and keys applied (raises SchemaError listing every problem). The one derivation `plan`
        (tables file or live), definitions load (tables file) and the extract (live) share, so
        each refuses what the others refuse for the same columns."""
        from mssql_starrocks.mapping import schema as sch

        excluded = set(self.spec.exclude_columns)
        kept = [c for c in columns if c.name not in excluded]
        if columns and not kept:
            # Only the audit columns would be left: an empty SELECT list in the extract.
            raise sch.SchemaError(
                f"{self.tables_file or tables_file_path()}: table {self.spec.qualified}: exclude_columns: "
                f"no columns left to migrate ({self.source_label} has only {', '.join(c.name for c in columns)}, "
                "all excluded); keep at least one column, or remove the table from the tables file")
        return sch.build(self.source_label, kept, key_columns=list(self.spec.key_columns),
                         rename=dict(self.spec.rename))

    @property
    def listed_columns(self) -> list[typemap.SourceColumn] | None:
        """The columns the tables file lists (as `discover` wrote them), or None if it lists none."""
        if self.spec.columns is None:
            return None
        return [c.to_source(i + 1) for i, c in enumerate(self.spec.columns)]

    @property
    def mode(self):
        """The LoadMode of `load_mode` (mssql_starrocks.modes): what each run of the table does."""
        from mssql_starrocks.modes import mode_named

        return mode_named(self.load_mode)

    @property
    def source_schema(self) -> str:
        return self.spec.schema_

    @property
    def source_table(self) -> str:
        return self.spec.name

    @property
    def source_qualified_tsql(self) -> str:
        return ".".join(names.quote_tsql(p) for p in (self.database, self.spec.schema_, self.spec.name))

    @property
    def source_label(self) -> str:
        return f"{self.database}.{self.spec.schema_}.{self.spec.name}"

    @property
    def namespace(self) -> str:
        """Iceberg namespace = Glue database = StarRocks database."""
        return self.spec.namespace or names.to_target_name(f"{self.database}_{self.spec.schema_}")

    @property
    def table(self) -> str:
        return self.spec.target_name or names.to_target_name(self.spec.name)

    @property
    def group(self) -> str:
        return self.namespace

    @property
    def key_parts(self) -> list[str]:
        return [names.to_target_name(self.database), names.to_target_name(self.spec.schema_), self.table]


def check_against_source(plan: "TablePlan", columns: list[str] | None, where: str) -> None:
    """Refuse, before any data moves, an entry naming a table or columns SQL Server does not have
    (the tables file can only be checked against the live catalog at run time: definitions
    load without I/O). `columns` None means the table does not exist."""
    prefix = f"{plan.tables_file or tables_file_path()}: table {plan.spec.qualified}"
    if columns is None:
        raise TablesFileError(f"{prefix}: no such table in SQL Server ({plan.source_label} on {where}); "
                              "correct schema and name, or remove the entry (`mssql-starrocks discover` lists the tables)")
    # rename/exclude_columns of a column dropped in SQL Server since are harmless (see evolution).
    problems = [f"{field}: unknown column '{col}'" for field, col in plan.spec.unknown_columns(columns)
                if field in ("key_columns", "partition_column", "watermark_column")]
    if problems:
        raise TablesFileError(f"{prefix}: " + "; ".join(problems)
                              + f" ({plan.source_label} in SQL Server has: {', '.join(columns)})")


def _check_mode(plan: "TablePlan") -> None:
    from mssql_starrocks.modes import ModeError

    try:
        plan.mode.validate(plan)
    except ModeError as exc:
        raise TablesFileError(str(exc)) from None


def _starrocks_options(options: StarRocksOptions, spec: TableSpec) -> StarRocksOptions:
    if options.model is not None:
        return options
    return options.model_copy(update={"model": "primary_key" if spec.key_columns else "duplicate"})


def plans(tables_file: TablesFile) -> list[TablePlan]:
    d = tables_file.defaults
    out = []
    for spec in tables_file.tables:
        out.append(TablePlan(
            database=tables_file.database,
            spec=spec,
            load_mode=spec.load_mode or d.load_mode,
            schedule=spec.schedule if "schedule" in spec.model_fields_set else d.schedule,
            extract=spec.extract or d.extract,
            starrocks=_starrocks_options(spec.starrocks or d.starrocks, spec),
            maintenance=spec.maintenance or d.maintenance,
            # A table's checks settings override the defaults' field by field.
            checks=d.checks.model_copy(update={k: getattr(spec.checks, k) for k in spec.checks.model_fields_set}
                                       if spec.checks else {}),
            owners=tuple(d.owners if spec.owners is None else spec.owners),
            tags={**d.tags, **spec.tags},
        ))
    for plan in out:
        _check_mode(plan)
    seen: dict[tuple[str, str], str] = {}
    for plan in out:
        key = (plan.namespace, plan.table)
        if key in seen:
            raise TablesFileError(
                f"tables {seen[key]} and {plan.spec.qualified} both land as {plan.namespace}.{plan.table}; "
                "set target_name on one of them"
            )
        seen[key] = plan.spec.qualified
    return out
