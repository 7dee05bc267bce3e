"""The run view where the output is not a terminal (CI logs, a file): one line per finished step."""

from __future__ import annotations

import time

from mssql_starrocks.terminal import session
from mssql_starrocks.terminal.progress import RunProgress, StepState, finished_line


class LineView:
    def __init__(self, progress: RunProgress, title: str):
        self.progress = progress
        session.say(title)

    def update(self, finished: list[StepState]) -> None:
        now = time.time()
        for step in finished:
            session.say(finished_line(step, now))

    def stop(self) -> None:
        pass
