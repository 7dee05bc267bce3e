"""`mssql-starrocks`: discover tables, check connections, preview type mappings, run migrations.

Every command reads connection settings from the environment, loading `.env` from the current
directory first (the same file Dagster loads), or the file given with `--env-file`.
"""

from __future__ import annotations

import os
import re
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
from mssql_starrocks.terminal import problems, session
from mssql_starrocks.terminal.problems import CommandFailed, Problem
from mssql_starrocks.terminal.session import say


def _load_env(env_file: str | None) -> None:
    from dotenv import load_dotenv

    if env_file:
        if not Path(env_file).exists():
            raise CommandFailed(Problem(f"--env-file {env_file}", "the file does not exist",
                                        "give the path of an existing .env file, or leave --env-file out to read ./.env"))
        load_dotenv(env_file, override=True)
    elif Path(".env").exists():
        load_dotenv(".env", override=False)


def _mssql(database: str | None = None):
    from mssql_starrocks.source.mssql import MssqlClient

    connection = settings.mssql_settings()
    return MssqlClient(connection.with_database(database) if database else connection)


def _starrocks():
    from mssql_starrocks.target.starrocks import StarRocksClient

    return StarRocksClient(settings.starrocks_settings())


class _Commands(click.Group):
    """Every command ends a failure in one block (terminal/problems.py): what failed, why, what
    to do; the traceback goes to the command's log file (and to the terminal with --verbose)."""

    def invoke(self, ctx: click.Context):
        current = session.current
        try:
            return super().invoke(ctx)
        except CommandFailed as exc:
            failed = exc
        except click.exceptions.Exit:
            raise
        except click.ClickException:  # click's own usage errors: its usual message
            raise
        except KeyboardInterrupt as exc:
            current().record_exception(exc)
            failed = CommandFailed(Problem(current().command or "the command", "interrupted (Ctrl-C) before it finished",
                                           "run it again", verb="was stopped"), exit_code=130)
        except Exception as exc:  # noqa: BLE001 - every other failure: one block, traceback in the log
            current().record_exception(exc)
            failed = CommandFailed(problems.of_exception(exc))
        failed.command = current().command
        failed.log_path = current().shown_log_path() if current().has_log else None
        failed.verbose = current().verbose
        raise failed


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--env-file", default=None, help="Read settings from this .env file (default: ./.env if present).")
@click.option("--verbose", "-v", is_flag=True,
              help="Show everything on the terminal: Dagster's event log, Spark's output and tracebacks "
                   "(otherwise they go to the log file whose path is printed).")
@click.pass_context
def main(ctx: click.Context, env_file: str | None, verbose: bool) -> None:
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
    session.start(ctx.invoked_subcommand or "", verbose)
    # The demo runs on the stand-ins' settings only: a production .env must not leak into it.
    if ctx.invoked_subcommand != "demo" or env_file:
        _load_env(env_file)


@main.command()
def check() -> None:
    """Check every connection: SQL Server, the Iceberg catalog, StarRocks (FE SQL and HTTP), the
    StarRocks user's right to create and load tables in each target database, and Spark + jars."""
    session.current().quiet()  # Spark's start-up banner goes to the log file, not between the lines
    settings.require(settings.REQUIRED)
    failures = 0

    def line(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += 0 if ok else 1
        say(f"{'OK  ' if ok else 'FAIL'} {what:<22} {detail}")

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
    plans = _configured_plans()
    catalog_users = [p for p in plans if p.starrocks.load_path == "catalog"]
    if catalog_users:
        try:
            line(True, "StarRocks catalog", _check_catalog_path(sr, catalog_users))
        except Exception as exc:  # noqa: BLE001
            line(False, "StarRocks catalog", str(exc))
    if not plans:
        say(f"SKIP {'StarRocks rights':<22} no usable tables file ({cfg.tables_file_path()}): no target database "
            "to probe (write one with `mssql-starrocks discover`)")
    for target in _probe_targets(plans):
        try:
            found = _check_rights(sr, target)
            line(found.ok, "StarRocks rights", found.detail)
        except Exception as exc:  # noqa: BLE001
            line(False, "StarRocks rights", f"{target.database}: {exc}")
    if catalog_users:
        say(f"{'':4} {'':<22} (catalog load path: StarRocks' INSERT ... SELECT also needs USAGE on catalog "
            f"{sr.settings.iceberg_catalog or '(STARROCKS_ICEBERG_CATALOG)'} and SELECT on its tables; not probed "
            "here, the run's first load asks for them)")
    try:
        line(True, "Spark + jars", _check_spark(catalog))
    except Exception as exc:  # noqa: BLE001
        line(False, "Spark + jars", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if failures:
        raise CommandFailed(Problem(f"{failures} of the connections above (the FAIL line(s))",
                                    "each FAIL line says why", "correct the settings the FAIL line(s) name in .env "
                                    "and run `mssql-starrocks check` again"))


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


def _configured_plans() -> list:
    """The tables file's plans ([] without a usable tables file: `check` needs none)."""
    try:
        return cfg.load_plans()
    except cfg.TablesFileError:
        return []


def _probe_targets(plans) -> list:
    """One probe per StarRocks database the tables load into (first table's replication_num)."""
    from mssql_starrocks.target.rights import ProbeTarget

    targets: dict[str, ProbeTarget] = {}
    for p in plans:
        seen = targets.get(p.namespace)
        deletes = p.starrocks.load_path == "catalog" or bool(seen and seen.deletes)
        targets[p.namespace] = ProbeTarget(p.namespace, seen.replication_num if seen else p.starrocks.replication_num,
                                           deletes)
    return list(targets.values())


def _check_rights(sr, target):
    from mssql_starrocks.target.rights import probe_database

    return probe_database(sr, target)


def _check_spark(catalog) -> str:
    """The Spark session the run would start (its conf, the catalog's settings, Spark Connect if
    set), started once and stopped."""
    from mssql_starrocks.lib.spark import check_session

    conf = settings.spark_conf()
    if catalog is not None:
        conf.update(catalog.spark_conf())
    remote_var = settings.spark_remote_variable()
    if remote_var:
        conf["spark.remote"] = os.environ[remote_var]
    return check_session(conf)


def _check_catalog_path(sr, plans) -> str:
    """For tables loaded through StarRocks' Iceberg external catalog: the settings fit, and
    StarRocks sees the catalog."""
    from mssql_starrocks.target import load_paths
    from mssql_starrocks.target.load_paths import catalog

    load_paths.refuse_unusable(plans, iceberg_catalog_type=settings.catalog_type(),
                               starrocks_catalog=sr.settings.iceberg_catalog)
    return catalog.describe_catalog(sr, sr.settings.iceberg_catalog) + f", for {len(plans)} table(s)"


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
    settings.require(settings.MSSQL_REQUIRED)
    if Path(output).exists() and not force:
        raise CommandFailed(Problem(f"--output {output}", f"{output} exists", "pass --force to overwrite it, or "
                                    "give another --output"))
    database = database or os.environ.get("MSSQL_DATABASE")
    if not database:
        raise CommandFailed(Problem("the source database", "no source database given",
                                    "pass --database or set MSSQL_DATABASE in .env"))
    client = _mssql(database)
    tables = [t for t in client.list_tables() if not schemas or t.schema in schemas]
    entries = []
    schema_problems = []
    with click.progressbar(tables, label=f"reading {len(tables)} table(s)",
                           file=session.current().terminal(err=True)) as bar:
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
                schema_problems.append(str(exc))
            entry["columns"] = [_column_entry(c) for c in columns]
            entries.append(entry)
    document = {"version": 1, "database": database, "defaults": {"load_mode": "full", "schedule": None},
                "tables": entries}
    Path(output).write_text(
        "# Written by `mssql-starrocks discover`; edit freely (see README: the tables file).\n"
        + yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    say(f"wrote {output}: {len(entries)} table(s) from {database}")
    for p in schema_problems:
        say(f"warning: {p}", err=True)


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
        raise CommandFailed(Problem(f"table {table}", f"{table} is not in the tables file {cfg.tables_file_path()} "
                                    f"(tables: {', '.join(sorted(plans))})",
                                    "give schema.name of a table listed there, or add it with "
                                    "`mssql-starrocks discover --force`"))
    _refuse_load_path(p)
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
        raise CommandFailed(Problem(f"table {p.source_label}", f"{exc}\n({source})",
                                    "change the table's entry in the tables file as the message says "
                                    "(exclude_columns, rename, key_columns), then run `mssql-starrocks plan` again"
                                    )) from None
    say(f"{p.source_label} -> Iceberg {p.namespace}.{p.table} -> StarRocks {p.namespace}.{p.table} "
        f"({p.starrocks.model}, load mode {p.load_mode}, load path {p.starrocks.load_path})")
    say(source)
    rows = [("column", "SQL Server", "Iceberg", "StarRocks", "note")]
    rows += [(c.name, c.source_type or "(added)", c.iceberg_type, c.starrocks_type, c.note) for c in schema_plan.columns]
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    for r in rows:
        say("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    say("\nStarRocks DDL:\n" + sch.starrocks_create_table(
        schema_plan, p.namespace, p.table, model=p.starrocks.model, buckets=p.starrocks.buckets,
        replication_num=p.starrocks.replication_num, comment=p.spec.description))
    warning = sch.key_size_warning(schema_plan, p.starrocks.model)
    if warning:
        say(f"warning: {warning}", err=True)


def _refuse_load_path(p) -> None:
    from mssql_starrocks.target import load_paths

    try:
        load_paths.refuse_unusable([p], iceberg_catalog_type=settings.catalog_type(),
                                   starrocks_catalog=settings.starrocks_iceberg_catalog())
    except load_paths.LoadPathError as exc:
        raise CommandFailed(Problem(f"table {p.source_label}", str(exc),
                                    "set starrocks.load_path to stream_load for this table, or configure what the "
                                    "message names, then run `mssql-starrocks plan` again")) from None


@main.command(name="types")
def types_() -> None:
    """Print the SQL Server -> Iceberg -> StarRocks type mapping table (markdown)."""
    say(typemap.render_markdown())


@main.command()
@click.option("--select", "selection", default="*", show_default=True,
              help="Dagster asset selection, e.g. 'raw/demo/dbo/customers*' (a table's chain) or 'group:demo_sales'.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, metavar="N",
              help="Steps of different tables to run at once (default: MSSQL_STARROCKS_CONCURRENCY, else 1).")
def run(selection: str, concurrency: int | None) -> None:
    """Materialize the selected assets with their checks (headless), recorded in DAGSTER_HOME.

    \b
    Shows each table's steps as they finish (rows, rows/s, seconds) and a closing summary;
    Dagster's event log and Spark's output go to the log file whose path is printed (--verbose
    shows them). Ctrl-C stops the run, records it as CANCELED and exits 130; a re-run converges.
    """
    import dagster as dg

    from mssql_starrocks.terminal import progress as pg
    from mssql_starrocks.terminal import runner

    session.current().quiet()
    settings.require(settings.REQUIRED)
    settings.iceberg_settings()  # refuses settings that do not fit together, naming them
    defs = _load_definitions()
    graph = defs.resolve_asset_graph()
    keys = _selected_assets(graph, selection)
    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    job = defs.resolve_implicit_global_asset_job_def()
    outcome = runner.execute(job, instance, list(keys), pg.RunProgress(graph, keys), concurrency)
    _report_run(outcome, selection)


def _selected_assets(graph, selection: str) -> set:
    """The asset keys of a `--select`, or the block saying it matches nothing."""
    import dagster as dg

    try:
        sel = dg.AssetSelection.from_string(selection) if selection != "*" else dg.AssetSelection.all()
        keys = sel.resolve(graph)
    except Exception as exc:  # noqa: BLE001 - Dagster's selection errors: unknown key, bad syntax
        unknown = re.match(r"AssetKey\(s\) (\[.*?\]) were selected", str(exc))
        keys, reason = set(), f"no asset has the key(s) {unknown.group(1)}" if unknown else problems.first_line(exc)
    else:
        reason = "it matches no asset"
    if not keys:
        tables = sorted({k.path[0] + "/" + "/".join(k.path[1:]) for k in graph.get_all_asset_keys()})
        example = next((t for t in tables if t.startswith("raw/")), "raw/<database>/<schema>/<table>")
        raise CommandFailed(Problem(f"--select '{selection}'", reason,
                                    f"select asset keys or groups that exist, e.g. --select '{example}*' (a table's "
                                    f"chain); the assets are listed in Dagit ({len(tables)} here)"))
    return keys


def _report_run(outcome, selection: str) -> None:
    """The closing summary table and line; a failure or a stop ends in the block."""
    import time

    from mssql_starrocks.terminal import progress as pg

    progress, now = outcome.progress, time.time()
    say("")
    say(pg.summary_text(pg.summarize(progress, now)))
    if outcome.stopped:
        raise CommandFailed(Problem(
            f"run {outcome.run_id} (recorded as {outcome.status} in Dagster)",
            "\n".join(["Ctrl-C: the run was stopped. What each target holds now:", *pg.target_states(progress)]),
            f"run the same command again (mssql-starrocks run --select '{selection}'): a re-run converges, every "
            "target ends equal to the source", verb="was stopped"), exit_code=130)
    result = outcome.result
    checks = [s for s in progress.steps.values() if s.is_check and s.passed is not None]
    failed_checks = [s for s in checks if s.passed is False]
    mats = [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]
    say(f"run {result.run_id}: {len(mats)} asset(s) materialized, {len(checks) - len(failed_checks)}/"
        f"{len(checks)} check(s) passed")
    if result.success and not failed_checks:
        return
    found = []
    messages = step_failures(result.all_events)
    for key, s in progress.steps.items():
        if s.status == "failed" and not s.is_check:
            message = messages.get(key, s.message)
            found.append(Problem(f"{s.table}, step {s.step}", problems.first_line(message), problems.todo_for(message)))
        elif s.status == "failed":
            found.append(Problem(f"{s.table}, {s.step}", problems.first_line(messages.get(key, s.message)),
                                 "the check itself could not run; the details are in the log file"))
    for s in failed_checks:
        found.append(Problem(f"{s.table}, {s.step}", problems.first_line(s.message),
                             "see what the check compares (README: Asset checks); a layer changed by hand is "
                             f"rebuilt by running the table again (mssql-starrocks run --select '{selection}')"))
    if not found:  # the run failed outside any step (e.g. a resource could not start)
        for key, message in messages.items():
            found.append(Problem(key, problems.first_line(message), problems.todo_for(message)))
    if not found:
        found.append(Problem(f"run {result.run_id}", "the run failed before any step",
                             "the details are in the log file"))
    raise CommandFailed(problems.Problems(found))


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

    def not_run(problem: Problem) -> None:
        raise CommandFailed(Problem(problem.what, problem.why, problem.todo, verb="could not run"),
                            exit_code=vf.EXIT_NOT_RUN)

    session.current().quiet()
    try:
        settings.require(settings.REQUIRED)
        defs = _load_definitions()
        graph = defs.resolve_asset_graph()
        assets, check_keys = vf.selected_check_keys(defs, selection)
    except Exception as exc:  # noqa: BLE001 - settings, tables file, selection: one block
        session.current().record_exception(exc)
        not_run(problems.of_exception(exc))
    if not check_keys:
        _selected_assets(graph, selection)  # says so if the selection matches nothing at all
        not_run(Problem(f"--select '{selection}'", "the selection has no asset checks",
                        "select the tables' assets, e.g. 'group:<database>_<schema>' or 'starrocks/<db>/<schema>/<table>'"))
    from mssql_starrocks.lib.tables import configured_tables

    for what, probe in _verify_probes(configured_tables()[0].database):
        try:
            probe()
        except Exception as exc:  # noqa: BLE001
            session.current().record_exception(exc)
            reason = ' '.join(str(exc).split())[:300]
            not_run(Problem(what, f"{what} unreachable: {reason}", problems.todo_for(reason, what)))
    import dagster as dg

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()
    run_id, outcomes = vf.run_checks(defs, assets, check_keys, instance)
    say(vf.format_summary(outcomes) + f" (run {run_id})")
    if junit_xml:
        vf.write_junit(outcomes, junit_xml)
        say(f"verify: JUnit report written to {junit_xml}")
    code = vf.exit_code(outcomes)
    if code != vf.EXIT_PASSED:  # the summary says it all; the block repeats what failed and adds what to do
        raise CommandFailed(problems.Problems([
            Problem(f"{o.asset}, check {o.check} ({o.status})", problems.first_line(o.description),
                    "the check itself could not run: the details are in the log file" if o.status == vf.ERROR else
                    "see what the check compares (README: Asset checks); a layer changed by hand is rebuilt by "
                    f"running the table again (mssql-starrocks run --select '{o.asset}')")
            for o in outcomes if not o.passed], verb="could not run" if code == vf.EXIT_NOT_RUN else "failed"),
            exit_code=code)
    raise SystemExit(code)


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
        raise CommandFailed(Problem("the stand-in servers", "the demo needs the stand-in servers of the "
                                    "development install", "run `make bootstrap` (pip install -e '.[dev]')"))
    session.current().quiet()  # the stand-ins' and Spark's output go to the log file
    python = sys.executable
    steps = [
        ("starting the stand-in servers", [python, "-m", "mssql_starrocks_devservers", "--state-dir", state_dir,
                                           "up", "--env-file", devservers_env]),
        ("loading the sample database", [python, "-m", "mssql_starrocks_devservers.sample", "--env-file",
                                         devservers_env, "--spec", "demo"]),
    ]
    for what, command in steps:
        say(f"demo: {what}")
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(done.stdout, end="", flush=True)  # to the log file (to the terminal with --verbose)
        if done.returncode != 0:
            last = problems.first_line((done.stdout.strip().splitlines() or [""])[-1])
            raise CommandFailed(Problem(f"demo step: {what}", f"exit status {done.returncode}: {last}",
                                        "read its output in the log file; `make down` stops stand-ins left running"))
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
    say("demo: discovering the demo database")
    ctx.invoke(discover, database=None, schemas=(), output=tables_file, force=True)
    say("demo: migrating raw -> Iceberg -> StarRocks with every check")
    try:
        ctx.invoke(run, selection=selection)
    finally:
        down = "make down" if state_dir == ".devservers" else \
            f"{python} -m mssql_starrocks_devservers --state-dir {state_dir} down"
        dagit = "make dagit" if dagster_home == ".local/dagster_home" else \
            f"DAGSTER_HOME={os.environ['DAGSTER_HOME']} {cfg.TABLES_FILE_ENV}={os.environ[cfg.TABLES_FILE_ENV]} make dagit"
        say(f"\nThe runs are in {dagster_home}. See them in Dagit: {dagit}, then open "
            f"http://127.0.0.1:3000\nStop the stand-in servers when finished: {down}")


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
