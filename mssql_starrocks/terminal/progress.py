"""A run's steps as the terminal shows them, read from the run's event log.

Each step of a run (a layer of a table, or an asset check) is a `StepState`; `RunProgress`
follows the event log (step start, success, failure, retry, materialization, check evaluation)
and takes the rows, rows/s and seconds from the materialization metadata the assets emit
(`dagster/row_count`, `rows_per_s`, `duration_s`; see defs/migration/assets.py). The closing
summary has one row per table: rows per layer, seconds, rows/s, checks passed/failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from mssql_starrocks.lib.tables import STEP_OF_LAYER, configured_tables, table_keys

LAYERS = ("raw", "iceberg", "starrocks")
WATCHED = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
           dg.DagsterEventType.STEP_UP_FOR_RETRY, dg.DagsterEventType.STEP_RESTARTED,
           dg.DagsterEventType.STEP_SKIPPED, dg.DagsterEventType.ASSET_MATERIALIZATION,
           dg.DagsterEventType.ASSET_CHECK_EVALUATION}


@dataclass
class StepState:
    table: str
    step: str                    # "extract", "iceberg commit", "starrocks load" or "check <name>"
    layer: str | None = None     # the layer an asset step writes; None for a check
    status: str = "waiting"      # waiting, running, retrying, done, failed, skipped
    started: float | None = None
    ended: float | None = None
    rows: int | None = None
    rows_per_s: float | None = None
    seconds: float | None = None
    passed: bool | None = None   # a check's verdict
    message: str = ""            # a failed check's description or a failed step's error

    @property
    def is_check(self) -> bool:
        return self.layer is None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "skipped")

    def elapsed(self, now: float) -> float:
        if self.seconds is not None:
            return self.seconds
        if self.started is None:
            return 0.0
        return (self.ended or now) - self.started


def _value(v):
    return getattr(v, "value", v)


class RunProgress:
    """The steps of one run, by step key, updated from its event log records."""

    def __init__(self, graph, keys) -> None:
        layer_of = {}
        self.targets: dict[str, str] = {}  # table -> its Iceberg and StarRocks name (namespace.table)
        for plan in configured_tables():
            self.targets[plan.source_label] = f"{plan.namespace}.{plan.table}"
            for layer, key in zip(LAYERS, table_keys(plan).all):
                layer_of[key] = (plan.source_label, layer)
        # By step key, and a check by `<step key>:<check name>`: one step may judge several checks.
        self.steps: dict[str, StepState] = {}
        self._of_step: dict[str, list[StepState]] = {}
        for ad in graph.assets_defs:
            step_key = ad.node_def.name
            for key in ad.keys:
                if key in keys:
                    table, layer = layer_of.get(key, (key.to_user_string(), None))
                    self.steps[step_key] = StepState(table, STEP_OF_LAYER.get(layer, "materialize"), layer or "")
            for check in ad.check_keys:
                if check.asset_key in keys:
                    table = layer_of.get(check.asset_key, (check.asset_key.to_user_string(), None))[0]
                    self.steps[f"{step_key}:{check.name}"] = StepState(table, f"check {check.name}")
        for key, state in self.steps.items():
            self._of_step.setdefault(key.split(":", 1)[0], []).append(state)
        self.seen = 0

    def tables(self) -> list[str]:
        return list(dict.fromkeys(s.table for s in self.steps.values()))

    def update(self, records) -> list[StepState]:
        """Apply the event log records not seen yet; the steps that finished with them."""
        finished = []
        for record in records[self.seen:]:
            event = record.dagster_event
            states = self._of_step.get(event.step_key, []) if event is not None else []
            if not states:
                continue
            kind, data, at = event.event_type, event.event_specific_data, record.timestamp
            if kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
                state = self.steps.get(f"{event.step_key}:{data.asset_check_key.name}")
                if state is not None:
                    state.passed, state.message = data.passed, data.description or ""
                continue
            for state in states:
                if self._apply(state, kind, data, at):
                    finished.append(state)
        self.seen = len(records)
        return finished

    @staticmethod
    def _apply(state: StepState, kind, data, at) -> bool:
        """A step event on one of the step's states; whether the step finished with it."""
        if kind in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED):
            state.status, state.started = "running", state.started or at
        elif kind == dg.DagsterEventType.STEP_UP_FOR_RETRY:
            state.status = "retrying"
        elif kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            meta = data.materialization.metadata
            state.rows = _value(meta.get("dagster/row_count"))
            state.rows_per_s = _value(meta.get("rows_per_s"))
            state.seconds = _value(meta.get("duration_s"))
        elif kind in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
                      dg.DagsterEventType.STEP_SKIPPED):
            state.ended = at
            if kind == dg.DagsterEventType.STEP_FAILURE and state.is_check and state.passed is not None:
                state.status = "done"  # judged; another check of its step could not run
                return True
            state.status = {dg.DagsterEventType.STEP_SUCCESS: "done", dg.DagsterEventType.STEP_FAILURE: "failed",
                            dg.DagsterEventType.STEP_SKIPPED: "skipped"}[kind]
            if kind == dg.DagsterEventType.STEP_FAILURE and data is not None and data.error is not None:
                state.message = data.error.message.strip()
            return True
        return False

    def interrupted(self) -> None:
        """Steps still running when the run was stopped."""
        for state in self.steps.values():
            if state.status in ("running", "retrying"):
                state.status = "stopped"


def fmt_rows(n) -> str:
    return "-" if n is None else f"{int(n):,}"


def fmt_rate(r) -> str:
    return "-" if r is None else f"{float(r):,.0f}"


def finished_line(s: StepState, now: float) -> str:
    """One line for a finished step (the view on a non-terminal, and the log)."""
    if s.is_check:
        verdict = {True: "passed", False: "FAILED"}.get(s.passed, s.status)
        text = f"{s.table}  {s.step}: {verdict}"
        return text + (f" ({s.message.splitlines()[0]})" if s.passed is False and s.message else "")
    if s.status != "done":
        return f"{s.table}  {s.step}: {s.status}"
    return (f"{s.table}  {s.step}: {fmt_rows(s.rows)} rows, {fmt_rate(s.rows_per_s)} rows/s, "
            f"{s.elapsed(now):.1f}s")


@dataclass
class TableSummary:
    table: str
    rows: dict[str, int | None] = field(default_factory=dict)
    seconds: float = 0.0
    checks_passed: int = 0
    checks_failed: int = 0
    failed_steps: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float | None:
        rows = self.rows.get("raw")
        return rows / self.seconds if rows is not None and self.seconds > 0 else None


def summarize(progress: RunProgress, now: float) -> list[TableSummary]:
    out: dict[str, TableSummary] = {t: TableSummary(t) for t in progress.tables()}
    for s in progress.steps.values():
        row = out[s.table]
        if s.is_check:
            if s.passed is True:
                row.checks_passed += 1
            elif s.passed is False or s.status == "failed":
                row.checks_failed += 1
        else:
            row.rows[s.layer] = s.rows
            row.seconds += s.elapsed(now) if s.started is not None else 0.0
            if s.status in ("failed", "stopped"):
                row.failed_steps.append(s.step)
    return list(out.values())


SUMMARY_HEADER = ("table", "raw rows", "iceberg rows", "starrocks rows", "seconds", "rows/s", "checks")


def summary_rows(summaries: list[TableSummary]) -> list[tuple[str, ...]]:
    rows = []
    for t in summaries:
        checks = f"{t.checks_passed} passed" + (f", {t.checks_failed} failed" if t.checks_failed else "")
        rows.append((t.table, *(fmt_rows(t.rows.get(layer)) if layer in t.rows else "-" for layer in LAYERS),
                     f"{t.seconds:.1f}", fmt_rate(t.rows_per_s), checks))
    return rows


def summary_text(summaries: list[TableSummary]) -> str:
    """The summary as plain aligned columns (numbers right-aligned)."""
    rows = [SUMMARY_HEADER, *summary_rows(summaries)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(SUMMARY_HEADER))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:-1], widths[1:-1])] + [r[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


TARGET_OF_LAYER = {"raw": "landing (raw)", "iceberg": "Iceberg", "starrocks": "StarRocks"}


def target_states(progress: RunProgress) -> list[str]:
    """After Ctrl-C: each target of each table, and what the stopped run left in it. Every step
    commits atomically (landing and StarRocks tables swapped in, Iceberg commits, labelled loads),
    so a target is either as it was or fully replaced or merged by this run."""
    lines = []
    for table in progress.tables():
        steps = {s.layer: s for s in progress.steps.values() if s.table == table and not s.is_check}
        parts = []
        for layer in LAYERS:
            if layer not in steps:
                continue
            s = steps[layer]
            state = {"done": "replaced or merged by this run",
                     "stopped": "unchanged or fully replaced/merged (stopped during its atomic step)",
                     "failed": "unchanged (its step failed)"}.get(s.status, "unchanged (its step had not started)")
            parts.append(f"{TARGET_OF_LAYER[layer]}: {state}")
        name = progress.targets.get(table, table)
        lines.append(f"{table} -> {name}: " + "; ".join(parts))
    return lines
