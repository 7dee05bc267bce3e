"""`mssql-starrocks`: discover tables, check connections, preview type mappings, run migrations.

Every command reads connection settings from the environment, loading `.env` from the current
directory first (the same file Dagster loads), or the file given with `--env-file`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click
import yaml

from mssql_starrocks import settings
from mssql_starrocks.lib import config as cfg
from mssql_starrocks.mapping import schema as sch
from mssql_starrocks.mapping import typemap
from mssql_starrocks.lib.spark import PROJECT_ROOT


def _load_env(env_file: str | None) -> None:
    from dotenv import load_dotenv

    if env_file:
        if not Path(env_file).exists():
            raise click.UsageError(f"env file {env_file} does not exist")
        load_dotenv(env_file, override=True)
    elif Path(".env").exists():
        load_dotenv(".env", override=False)


def _mssql(database: str | None = None):
    from mssql_starrocks.source.mssql import MssqlClient

    connection = _settings(settings.mssql_settings)
    return MssqlClient(connection.with_database(database) if database else connection)


def _starrocks():
    from mssql_starrocks.target.starrocks import StarRocksClient

    return StarRocksClient(_settings(settings.starrocks_settings))


def _settings(read):
    """Settings read by `read`, or the one message naming every missing variable."""
    try:
        return read()
    except settings.MissingSettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _require(names: tuple[str, ...]) -> None:
    _settings(lambda: settings.require(names))


class _Commands(click.Group):
    """Every command's shared error handling: a connection or source failure (a refused
    certificate, a refused login, a missing table) is one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        from mssql_starrocks.source.mssql import SourceError

        try:
            return super().invoke(ctx)
        except SourceError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--env-file", default=None, help="Read settings from this .env file (default: ./.env if present).")
@click.pass_context
def main(ctx: click.Context, env_file: str | None) -> None:
    """Migrate SQL Server tables into StarRocks through Iceberg, with Dagster.

    \b
    Try it without servers:  mssql-starrocks demo
    Typical first steps on your own servers:
      1. cp .env.example .env   and fill in SQL Server, Iceberg/Glue and StarRocks settings
      2. mssql-starrocks check            one line per endpoint: reachable, logged in, version
      3. mssql-starrocks discover         write tables.yaml from the SQL Server catalog
      4. mssql-starrocks plan dbo.orders  see the column types each layer will get
      5. mssql-starrocks run              migrate every table (or open Dagit: dagster dev)
    """
    # The demo runs on the stand-ins' settings only: a production .env must not leak into it.
    if ctx.invoked_subcommand != "demo" or env_file:
        _load_env(env_file)


@main.command()
def check() -> None:
    """Check every connection: SQL Server, the Iceberg catalog, StarRocks (FE SQL and HTTP)."""
    _require(settings.REQUIRED)
    failures = 0

    def line(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += 0 if ok else 1
        click.echo(f"{'OK  ' if ok else 'FAIL'} {what:<22} {detail}")

    mssql = _mssql()
    try:
        line(True, "SQL Server", f"{mssql.settings.display} version {mssql.server_version()}")
    except Exception as exc:  # noqa: BLE001 - report every endpoint, then fail
        line(False, "SQL Server", str(exc))
    catalog = None
    try:
        catalog = settings.iceberg_settings()  # refuses settings that do not fit together
        detail = _check_catalog(catalog)
        line(True, "Iceberg catalog", detail)
    except Exception as exc:  # noqa: BLE001
        line(False, "Iceberg catalog", f"{catalog.display}: {exc}" if catalog else str(exc))
    sr = _starrocks()
    try:
        line(True, "StarRocks (SQL)", f"{sr.settings.display} version {sr.version()}")
    except Exception as exc:  # noqa: BLE001
        line(False, "StarRocks (SQL)", str(exc))
    try:
        line(True, "StarRocks (HTTP)", _check_stream_load_endpoint(sr.settings))
    except Exception as exc:  # noqa: BLE001
        line(False, "StarRocks (HTTP)", str(exc))
    if failures:
        raise SystemExit(1)


def _check_catalog(catalog) -> str:
    if catalog.catalog_type == "local":
        catalog.prepare_local()
        return f"{catalog.display} (local JDBC catalog; no account needed)"
    import boto3

    glue = boto3.client("glue", region_name=catalog.aws_region, endpoint_url=catalog.glue_endpoint)
    glue.get_databases(MaxResults=1)
    s3 = boto3.client("s3", region_name=catalog.aws_region, endpoint_url=catalog.s3_endpoint)
    bucket = catalog.warehouse.removeprefix("s3://").split("/")[0]
    s3.head_bucket(Bucket=bucket)
    return f"{catalog.display}: Glue answers, bucket {bucket} reachable"


def _check_stream_load_endpoint(settings) -> str:
    from mssql_starrocks.target.starrocks import check_http_login

    return check_http_login(settings)


@main.command()
@click.option("--database", default=None, help="Source database (default: MSSQL_DATABASE).")
@click.option("--schema", "schemas", multiple=True, help="Only these schemas (repeatable).")
@click.option("--output", "-o", default=cfg.DEFAULT_TABLES_FILE, show_default=True, help="Tables file to write.")
@click.option("--force", is_flag=True, help="Overwrite an existing tables file.")
def discover(database: str | None, schemas: tuple[str, ...], output: str, force: bool) -> None:
    """Write a tables file listing every table of the source database, with keys and columns."""
    _require(settings.MSSQL_REQUIRED)
    if Path(output).exists() and not force:
        raise click.ClickException(f"{output} exists; pass --force to overwrite it")
    database = database or os.environ.get("MSSQL_DATABASE")
    if not database:
        raise click.ClickException("no source database: pass --database or set MSSQL_DATABASE")
    client = _mssql(database)
    tables = [t for t in client.list_tables() if not schemas or t.schema in schemas]
    entries = []
    problems = []
    with click.progressbar(tables, label=f"reading {len(tables)} table(s)", file=sys.stderr) as bar:
        for info in bar:
            columns = client.columns(info.schema, info.name)
            keys = client.primary_key(info.schema, info.name)
            entry: dict = {"schema": info.schema, "name": info.name}
            if keys:
                entry["key_columns"] = keys
                entry["starrocks"] = {"model": "primary_key"}
            if info.description:
                entry["description"] = info.description
            if info.row_estimate is not None:
                entry["row_estimate"] = info.row_estimate
            try:
                sch.build(f"{database}.{info.schema}.{info.name}", columns, key_columns=keys)
            except sch.SchemaError as exc:
                problems.append(str(exc))
            entry["columns"] = [_column_entry(c) for c in columns]
            entries.append(entry)
    document = {"version": 1, "database": database, "defaults": {"load_mode": "full", "schedule": None},
                "tables": entries}
    Path(output).write_text(
        "# Written by `mssql-starrocks discover`; edit freely (see README: the tables file).\n"
        + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    click.echo(f"wrote {output}: {len(entries)} table(s) from {database}")
    for p in problems:
        click.echo(f"warning: {p}", err=True)


def _column_entry(c: typemap.SourceColumn) -> dict:
    entry: dict = {"name": c.name, "type": c.data_type}
    if c.max_length is not None:
        entry["max_length"] = c.max_length
    if c.precision is not None:
        entry["precision"] = c.precision
    if c.scale is not None:
        entry["scale"] = c.scale
    entry["nullable"] = c.nullable
    return entry


@main.command()
@click.argument("table")
@click.option("--live", is_flag=True, help="Read the columns from SQL Server instead of the tables file.")
def plan(table: str, live: bool) -> None:
    """Show the planned column types of TABLE (schema.name) on every layer, before running."""
    tables_file = cfg.load_tables_file()
    plans = {p.spec.qualified.lower(): p for p in cfg.plans(tables_file)}
    p = plans.get(table.lower())
    if p is None:
        raise click.ClickException(f"{table} is not in the tables file (tables: {', '.join(sorted(plans))})")
    columns = None if live else p.listed_columns
    if columns is None:
        client = _mssql(p.database)
        columns = client.columns(p.source_schema, p.source_table)
        source = f"columns: SQL Server's catalog ({client.settings.display}), as a run reads them"
    else:
        source = (f"columns: as {cfg.tables_file_path()} lists them (a run reads SQL Server's catalog; "
                  "`--live` plans from it)")
    try:
        schema_plan = p.schema_plan(columns)
    except sch.SchemaError as exc:
        raise click.ClickException(f"{exc}\n({source})") from None
    click.echo(f"{p.source_label} -> Iceberg {p.namespace}.{p.table} -> StarRocks {p.namespace}.{p.table} "
               f"({p.starrocks.model}, load mode {p.load_mode})")
    click.echo(source)
    rows = [("column", "SQL Server", "Iceberg", "StarRocks", "note")]
    rows += [(c.name, c.source_type or "(added)", c.iceberg_type, c.starrocks_type, c.note) for c in schema_plan.columns]
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for r in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    click.echo("\nStarRocks DDL:\n" + sch.starrocks_create_table(
        schema_plan, p.namespace, p.table, model=p.starrocks.model, buckets=p.starrocks.buckets,
        replication_num=p.starrocks.replication_num, comment=p.spec.description))
    warning = sch.key_size_warning(schema_plan, p.starrocks.model)
    if warning:
        click.echo(f"warning: {warning}", err=True)


@main.command(name="types")
def types_() -> None:
    """Print the SQL Server -> Iceberg -> StarRocks type mapping table (markdown)."""
    click.echo(typemap.render_markdown())


@main.command()
@click.option("--select", "selection", default="*", show_default=True,
              help="Dagster asset selection, e.g. 'raw/demo/dbo/customers*' (a table's chain) or 'group:demo_sales'.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None,
              help="Steps of different tables to run at once (default: MSSQL_STARROCKS_CONCURRENCY, else 2).")
def run(selection: str, concurrency: int | None) -> None:
    """Materialize the selected assets with their checks (headless), recorded in DAGSTER_HOME."""
    import dagster as dg

    from mssql_starrocks.definitions import defs as lazy_defs

    defs = lazy_defs() if callable(lazy_defs) else lazy_defs
    if hasattr(defs, "load"):
        defs = defs.load()
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    sel = dg.AssetSelection.from_string(selection) if selection != "*" else dg.AssetSelection.all()
    keys = sel.resolve(defs.resolve_asset_graph())
    graph = defs.resolve_asset_graph()
    total = len(keys) + sum(1 for c in graph.asset_check_keys if c.asset_key in keys)
    result = _execute_with_progress(job, instance, list(keys), total, concurrency)
    checks = [e for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    failed_checks = [e for e in checks if not e.event_specific_data.passed]
    mats = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    click.echo(f"run {result.run_id}: {len(mats)} asset(s) materialized, {len(checks) - len(failed_checks)}/"
               f"{len(checks)} check(s) passed")
    for e in failed_checks:
        ev = e.event_specific_data
        click.echo(f"  check failed: {ev.asset_check_key.to_user_string()}: {ev.description}")
    if not result.success or failed_checks:
        for step, message in step_failures(result.all_events).items():
            click.echo(f"  step failed: {step}: {message}", err=True)
        raise SystemExit(1)


@main.command()
@click.option("--select", "selection", default="*", show_default=True,
              help="Dagster asset selection whose checks run, e.g. 'starrocks/demo/dbo/customers' or 'group:demo_sales'.")
@click.option("--junit-xml", "junit_xml", default=None, type=click.Path(dir_okay=False),
              help="Also write a JUnit XML report here (one testcase per check) for CI.")
def verify(selection: str, junit_xml: str | None) -> None:
    """Run only the asset checks of the selected tables against the live servers; write nothing.

    \b
    Exit 0: every check passed; 1: a check failed; 2: verify could not run (settings, tables
    file, a server unreachable). Results are recorded in DAGSTER_HOME like a run's.
    """
    from mssql_starrocks import verify as vf

    def not_run(message: str) -> None:
        click.echo(f"verify: could not run: {message}", err=True)
        raise SystemExit(vf.EXIT_NOT_RUN)

    try:
        settings.require(settings.REQUIRED)
        defs = _load_definitions()
        assets, check_keys = vf.selected_check_keys(defs, selection)
    except Exception as exc:  # noqa: BLE001 - settings, tables file, selection: one line
        not_run(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    if not check_keys:
        not_run(f"the selection '{selection}' has no asset checks")
    from mssql_starrocks.lib.tables import configured_tables

    for what, probe in _verify_probes(configured_tables()[0].database):
        try:
            probe()
        except Exception as exc:  # noqa: BLE001
            not_run(f"{what} unreachable: {' '.join(str(exc).split())[:300]}")
    import dagster as dg

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    run_id, outcomes = vf.run_checks(defs, assets, check_keys, instance)
    click.echo(vf.format_summary(outcomes) + f" (run {run_id})")
    if junit_xml:
        vf.write_junit(outcomes, junit_xml)
        click.echo(f"verify: JUnit report written to {junit_xml}")
    raise SystemExit(vf.exit_code(outcomes))


def _verify_probes(database: str):
    """(endpoint, probe) for every server the checks read, so an unreachable one is one line."""
    return [("SQL Server", lambda: _mssql(database).server_version()),
            ("Iceberg catalog", lambda: _check_catalog(settings.iceberg_settings())),
            ("StarRocks", lambda: _starrocks().version())]


def _load_definitions():
    from mssql_starrocks.definitions import defs as lazy_defs

    defs = lazy_defs() if callable(lazy_defs) else lazy_defs
    return defs.load() if hasattr(defs, "load") else defs


@main.command()
@click.option("--state-dir", default=".devservers", show_default=True,
              help="Where the stand-in servers keep their ports, passwords, logs and data.")
@click.option("--devservers-env", default=".env.devservers", show_default=True,
              help="Where the stand-ins' connection settings are written, as .env lines.")
@click.option("--tables-file", default=".local/demo/tables.yaml", show_default=True,
              help="The tables file that discover writes for the demo database.")
@click.option("--dagster-home", default=".local/dagster_home", show_default=True,
              help="Where the runs are recorded (the DAGSTER_HOME that `make dagit` opens).")
@click.option("--iceberg-dir", default=None,
              help="Directory of the local Iceberg catalog (default: .local/iceberg in the project).")
@click.option("--select", "selection", default="*", show_default=True,
              help="Dagster asset selection to migrate, e.g. 'raw/demo/dbo/customers*'; * is every table.")
@click.pass_context
def demo(ctx: click.Context, state_dir: str, devservers_env: str, tables_file: str, dagster_home: str,
         iceberg_dir: str | None, selection: str) -> None:
    """Try it without servers: start local stand-ins, load a sample database, discover and migrate it.

    What `make demo` runs: every table goes raw -> Iceberg -> StarRocks with its checks.

    Needs the development extras (`make bootstrap` installs them). Stop the stand-ins afterwards
    with `make down`.
    """
    import importlib.util
    import subprocess

    from dotenv import load_dotenv

    # Started as separate programs: the product never imports the stand-ins.
    if importlib.util.find_spec("mssql_starrocks_devservers") is None:
        raise click.ClickException("the demo needs the stand-in servers of the development install: "
                                   "run `make bootstrap` (pip install -e '.[dev]')")
    python = sys.executable
    steps = [
        ("starting the stand-in servers", [python, "-m", "mssql_starrocks_devservers", "--state-dir", state_dir,
                                           "up", "--env-file", devservers_env]),
        ("loading the sample database", [python, "-m", "mssql_starrocks_devservers.sample", "--env-file",
                                         devservers_env, "--spec", "demo"]),
    ]
    for what, command in steps:
        click.echo(f"demo: {what}")
        if subprocess.run(command).returncode != 0:
            raise click.ClickException(f"demo: {what} failed (see the output above)")
    load_dotenv(devservers_env, override=True)
    instance_yaml = Path(dagster_home) / "dagster.yaml"
    instance_yaml.parent.mkdir(parents=True, exist_ok=True)
    if not instance_yaml.exists() or not instance_yaml.stat().st_size:  # as scripts/dagster_home.sh does
        shutil.copyfile(PROJECT_ROOT / "scripts" / "dagster.yaml", instance_yaml)
    Path(tables_file).parent.mkdir(parents=True, exist_ok=True)
    os.environ.update({"DAGSTER_HOME": str(Path(dagster_home).resolve()), "ICEBERG_CATALOG_TYPE": "local",
                       cfg.TABLES_FILE_ENV: str(Path(tables_file).resolve())})
    if iceberg_dir:
        os.environ["ICEBERG_LOCAL_DIR"] = str(Path(iceberg_dir).resolve())
    click.echo("demo: discovering the demo database")
    ctx.invoke(discover, database=None, schemas=(), output=tables_file, force=True)
    click.echo("demo: migrating raw -> Iceberg -> StarRocks with every check")
    try:
        ctx.invoke(run, selection=selection)
    finally:
        down = "make down" if state_dir == ".devservers" else \
            f"{python} -m mssql_starrocks_devservers --state-dir {state_dir} down"
        dagit = "make dagit" if dagster_home == ".local/dagster_home" else \
            f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} {cfg.TABLES_FILE_ENV}={os.environ[cfg.TABLES_FILE_ENV]} make dagit"
        click.echo(f"\nThe runs are in {dagster_home}. See them in Dagit: {dagit}, then open "
                   f"http://127.0.0.1:3000\nStop the stand-in servers when finished: {down}")


def _execute_with_progress(job, instance, keys, total: int, concurrency: int | None = None):
    """Run in a worker thread; the CLI shows a progress bar of finished steps (assets and checks)
    read from the run's event log, so a long migration shows where it is."""
    import threading
    import uuid

    import dagster as dg

    from mssql_starrocks.defs.migration import executor

    run_id = str(uuid.uuid4())
    outcome: dict = {}

    def work():
        try:
            outcome["result"] = executor.execute_in_process(job, instance=instance, asset_selection=keys,
                                                            raise_on_error=False, run_id=run_id,
                                                            concurrency=concurrency)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="mssql-starrocks-run", daemon=True)
    worker.start()
    finished = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}
    with click.progressbar(length=total, label=f"run {run_id[:8]}: steps", show_pos=True,
                           file=sys.stdout) as bar:
        done = 0
        while worker.is_alive():
            worker.join(timeout=1.0)
            try:
                now = len(instance.all_logs(run_id, of_type=finished))
            except Exception:  # noqa: BLE001 - the run may not be stored yet
                continue
            if now > done:
                bar.update(now - done)
                done = now
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def step_failures(events) -> dict[str, str]:
    """step key -> the error that failed it (the cause, not Dagster's "Exceeded max_retries")."""
    out: dict[str, str] = {}
    for e in events:
        if e.event_type_value in ("STEP_FAILURE", "STEP_UP_FOR_RETRY"):
            error = getattr(e.event_specific_data, "error", None)
            while error is not None and error.cause is not None and "max_retries" in error.message:
                error = error.cause
            if error is not None and "Exceeded max_retries" not in error.message:
                out[e.step_key] = "\n    ".join(error.message.strip().splitlines()[:8])[:4000]
            elif e.step_key not in out and error is not None:
                out[e.step_key] = error.message.strip()[:2000]
    return out


if __name__ == "__main__":
    main()
