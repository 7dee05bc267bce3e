"""`mssql-starrocks verify`: run only the asset checks of the selected tables against the live
SQL Server, Iceberg catalog and StarRocks, without materializing or writing any table.

The checks run as a Dagster job of asset checks only (executed in process, like `run`), so their
results are recorded as asset check evaluations in DAGSTER_HOME and show in Dagit. What is left
here is pure: an outcome per check, the summary table, the JUnit report and the exit code.

Exit codes: 0 every check passed, 1 a check failed (WARN or ERROR severity), 2 verify could not
run (settings, tables file, an unreachable server, a check that raised instead of judging).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

EXIT_PASSED, EXIT_FAILED, EXIT_NOT_RUN = 0, 1, 2
PASS, WARN, FAIL, ERROR = "PASS", "WARN", "FAIL", "ERROR"  # ERROR: the check raised, no verdict
VERIFY_JOB = "mssql_starrocks_verify"


@dataclass(frozen=True)
class CheckOutcome:
    asset: str  # the asset key as Dagster writes it, e.g. starrocks/demo/dbo/customers
    check: str
    status: str  # PASS | WARN | FAIL | ERROR
    description: str
    figures: dict[str, int | float]  # both sides' numbers, from the evaluation's metadata

    @property
    def passed(self) -> bool:
        return self.status == PASS


def outcome_of(evaluation) -> CheckOutcome:
    """The outcome of one AssetCheckEvaluation."""
    if evaluation.passed:
        status = PASS
    else:
        status = WARN if evaluation.severity == dg.AssetCheckSeverity.WARN else FAIL
    figures = {k: v.value for k, v in (evaluation.metadata or {}).items()
               if isinstance(v, (dg.IntMetadataValue, dg.FloatMetadataValue))}
    key = evaluation.asset_check_key
    return CheckOutcome(key.asset_key.to_user_string(), key.name, status, evaluation.description or "", figures)


def errored(check_key: dg.AssetCheckKey, message: str) -> CheckOutcome:
    return CheckOutcome(check_key.asset_key.to_user_string(), check_key.name, ERROR, message, {})


def exit_code(outcomes: list[CheckOutcome]) -> int:
    if not outcomes or any(o.status == ERROR for o in outcomes):
        return EXIT_NOT_RUN
    return EXIT_PASSED if all(o.passed for o in outcomes) else EXIT_FAILED


def _figures_text(figures: dict[str, int | float]) -> str:
    return ", ".join(f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in figures.items())


def format_summary(outcomes: list[CheckOutcome]) -> str:
    """One row per check (table, check, result, figures), each failure's description under it,
    and the verdict line."""
    rows = [("table", "check", "result", "figures")]
    rows += [(o.asset, o.check, o.status, _figures_text(o.figures)) for o in outcomes]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = []
    for row, outcome in zip(rows, [None, *outcomes]):
        lines.append(("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "  " + row[3]).rstrip())
        # Under a row: why it did not pass, or how far a passing lake lags behind SQL Server.
        if outcome is not None and (not outcome.passed or outcome.figures.get("lag_rows")):
            lines.append(f"    {outcome.description}")
    lines.append(verdict(outcomes))
    return "\n".join(lines)


def verdict(outcomes: list[CheckOutcome]) -> str:
    bad = [o for o in outcomes if not o.passed]
    if not outcomes:
        return "verify: no check selected"
    if not bad:
        return f"verify: all {len(outcomes)} check(s) passed"
    counts = ", ".join(f"{sum(o.status == s for o in bad)} {s}" for s in (FAIL, WARN, ERROR)
                       if any(o.status == s for o in bad))
    return f"verify: {len(bad)} of {len(outcomes)} check(s) did not pass ({counts})"


def write_junit(outcomes: list[CheckOutcome], path: str | Path, *, suite: str = "mssql-starrocks verify") -> None:
    """A JUnit XML report: one testcase per check (classname = asset, name = check); a failed
    check is a <failure> carrying its description, a check that raised an <error>."""
    root = ET.Element("testsuites")
    failures = sum(o.status in (FAIL, WARN) for o in outcomes)
    errors = sum(o.status == ERROR for o in outcomes)
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(outcomes)), failures=str(failures),
                       errors=str(errors), skipped="0")
    for o in outcomes:
        case = ET.SubElement(ts, "testcase", classname=o.asset, name=o.check)
        if o.status in (FAIL, WARN):
            ET.SubElement(case, "failure", message=o.description, type=o.status).text = o.description
        elif o.status == ERROR:
            ET.SubElement(case, "error", message=o.description, type=ERROR).text = o.description
        if o.figures or o.description:
            ET.SubElement(case, "system-out").text = "\n".join(filter(None, [o.description,
                                                                             _figures_text(o.figures)]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


# --- running the checks through Dagster --------------------------------------------------------
def checks_job(name: str, asset_keys) -> dg.UnresolvedAssetJobDefinition:
    """A job of the asset checks of these assets only: it materializes nothing."""
    return dg.define_asset_job(name, selection=dg.AssetSelection.checks_for_assets(*asset_keys),
                               description="Asset checks only: reads SQL Server, the Iceberg catalog and "
                                           "StarRocks, writes no table.")


def selected_check_keys(defs: dg.Definitions, selection: str) -> tuple[list[dg.AssetKey], list[dg.AssetCheckKey]]:
    graph = defs.resolve_asset_graph()
    sel = dg.AssetSelection.all() if selection == "*" else dg.AssetSelection.from_string(selection)
    assets = sel.resolve(graph)
    return sorted(assets, key=str), sorted((c for c in graph.asset_check_keys if c.asset_key in assets),
                                           key=lambda c: c.to_user_string())


def step_errors(events) -> dict[str, str]:
    """step key -> the first line of the innermost error that failed it (the cause, not Dagster's
    "Error occurred while executing op")."""
    out = {}
    for e in events:
        if e.event_type_value == "STEP_FAILURE" and getattr(e.event_specific_data, "error", None) is not None:
            error = e.event_specific_data.error
            while error.cause is not None:
                error = error.cause
            out[e.step_key] = (error.message.strip().splitlines() or [error.cls_name or "error"])[0]
    return out


def run_checks(defs: dg.Definitions, asset_keys: list[dg.AssetKey], check_keys: list[dg.AssetCheckKey],
               instance: dg.DagsterInstance) -> tuple[str, list[CheckOutcome]]:
    """Execute the checks of `asset_keys` in process; (run id, one outcome per check in `check_keys`).
    A check without an evaluation (its step raised) is an ERROR outcome carrying the step's error."""
    job = checks_job(VERIFY_JOB, asset_keys)
    merged = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    result = merged.resolve_job_def(VERIFY_JOB).execute_in_process(instance=instance, raise_on_error=False)
    evaluations = {e.event_specific_data.asset_check_key: e.event_specific_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"}
    errors = step_errors(result.all_events)
    outcomes = []
    for key in check_keys:
        if key in evaluations:
            outcomes.append(outcome_of(evaluations[key]))
        else:
            step = errors.get("__".join(key.asset_key.path) + "_" + key.name)  # the check's own step key
            outcomes.append(errored(key, (step or next(iter(errors.values()), None)
                                          or "the check did not run").splitlines()[0]))
    return result.run_id, outcomes
