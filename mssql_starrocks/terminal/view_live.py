"""The run view on a terminal: a table redrawn in place (rich), one row per table, one column
per step, each cell the step's state, rows, rows/s and elapsed seconds; checks counted."""

from __future__ import annotations

import time

from rich.console import Console
from rich.live import Live
from rich.table import Table

from mssql_starrocks.lib.tables import STEP_OF_LAYER
from mssql_starrocks.terminal import session
from mssql_starrocks.terminal.progress import LAYERS, RunProgress, StepState, fmt_rate, fmt_rows

MARK = {"waiting": "[dim]·[/dim]", "running": "[cyan]…[/cyan]", "retrying": "[yellow]↻[/yellow]",
        "done": "[green]✓[/green]", "failed": "[red]✗[/red]", "skipped": "[dim]-[/dim]", "stopped": "[red]■[/red]"}


class LiveView:
    def __init__(self, progress: RunProgress, title: str):
        self.progress = progress
        self.title = title
        self.console = Console(file=session.current().terminal(), highlight=False)
        # Not rich's default of catching sys.stdout/sys.stderr: what libraries write there belongs in
        # the log file (session.quiet), not above the table.
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, get_renderable=self._render,
                         transient=False, redirect_stdout=False, redirect_stderr=False)
        self.live.start()

    def _cell(self, s: StepState | None, now: float) -> str:
        if s is None:
            return ""
        text = f"{MARK.get(s.status, s.status)} "
        if s.status == "done":
            text += f"{fmt_rows(s.rows)} rows  {fmt_rate(s.rows_per_s)}/s  "
        return text + (f"{s.elapsed(now):.1f}s" if s.started is not None else s.status)

    def _render(self) -> Table:
        now = time.time()
        table = Table(title=self.title, title_justify="left", expand=False)
        table.add_column("table")
        for layer in LAYERS:
            table.add_column(STEP_OF_LAYER[layer])
        table.add_column("checks")
        for name in self.progress.tables():
            steps = [s for s in self.progress.steps.values() if s.table == name]
            by_layer = {s.layer: s for s in steps if not s.is_check}
            checks = [s for s in steps if s.is_check]
            passed = sum(1 for s in checks if s.passed is True)
            failed = sum(1 for s in checks if s.passed is False or s.status == "failed")
            verdict = f"{passed}/{len(checks)}" + (f" [red]{failed} failed[/red]" if failed else "")
            table.add_row(name, *(self._cell(by_layer.get(layer), now) for layer in LAYERS), verdict)
        return table

    def update(self, finished: list[StepState]) -> None:
        self.live.refresh()

    def stop(self) -> None:
        self.live.refresh()
        self.live.stop()
