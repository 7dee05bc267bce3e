"""A run in a worker thread, watched from the main thread, and stopped cleanly by Ctrl-C.

The main thread reads the run's event log twice a second into the view. Ctrl-C (SIGINT reaches
the main thread) stops the run the way Dagster stops a run it was asked to terminate: the run
is marked CANCELING, the worker gets Dagster's interrupt (as a step would from a termination
request), Spark's running jobs are cancelled so a step waiting on one returns, and Dagster then
records the run as CANCELED. If the worker does not return within GRACE_S (a call blocked in a
driver), the CLI records CANCELED itself; the process ends either way. Every load is atomic, so
each target is either unchanged or fully replaced or merged, and a re-run converges.
"""

from __future__ import annotations

import ctypes
import threading
import time
import uuid
from dataclasses import dataclass

import dagster as dg

from mssql_starrocks.terminal import session
from mssql_starrocks.terminal.progress import WATCHED, RunProgress

GRACE_S = 20.0
POLL_S = 0.5


@dataclass
class RunOutcome:
    run_id: str
    result: object | None      # dagster's ExecuteInProcessResult, None when stopped
    progress: RunProgress
    stopped: bool = False      # Ctrl-C
    status: str = ""           # the run's status recorded in the instance


def execute(job, instance: dg.DagsterInstance, keys: list, progress: RunProgress,
            concurrency: int | None = None) -> RunOutcome:
    from mssql_starrocks.defs.migration import executor
    from mssql_starrocks.terminal.view_lines import LineView
    from mssql_starrocks.terminal.view_live import LiveView

    run_id = str(uuid.uuid4())
    outcome: dict = {}

    # Whether the worker ended is told by an Event, never by Thread.is_alive/join: a join that a
    # KeyboardInterrupt breaks can leave is_alive() False while the thread still runs (CPython gh-90882).
    ended = threading.Event()

    def work():
        try:
            outcome["result"] = executor.execute_in_process(job, instance=instance, asset_selection=keys,
                                                            raise_on_error=False, run_id=run_id,
                                                            concurrency=concurrency)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            outcome["error"] = exc
        finally:
            ended.set()

    title = f"run {run_id}: {len(progress.tables())} table(s), {len(progress.steps)} step(s)"
    if session.current().quiet_to_log:
        title += f"; Dagster's event log and Spark's output: {session.current().shown_log_path()}"
    # A live table only on a terminal, and not with --verbose (the event log is printed there too).
    live = session.current().terminal().isatty() and not session.current().verbose
    view = (LiveView if live else LineView)(progress, title)
    worker = threading.Thread(target=work, name="mssql-starrocks-run", daemon=True)
    stopped = False

    def poll():
        try:
            records = instance.all_logs(run_id, of_type=WATCHED)
        except Exception:  # noqa: BLE001 - the run may not be stored yet
            return
        view.update(progress.update(records))

    try:
        worker.start()
        while not ended.wait(POLL_S):
            poll()
    except KeyboardInterrupt:
        stopped = True
        session.current().log("Ctrl-C: stopping the run")
        _stop(instance, run_id, worker, ended)
    finally:
        poll()
        if stopped:
            progress.interrupted()
        view.stop()
    run = instance.get_run_by_id(run_id)
    status = run.status.value if run else "NOT STARTED"
    if stopped:
        if "error" in outcome:
            session.current().record_exception(outcome["error"])
        return RunOutcome(run_id, None, progress, stopped=True, status=status)
    if "error" in outcome:
        raise outcome["error"]
    return RunOutcome(run_id, outcome["result"], progress, status=status)


def _stop(instance: dg.DagsterInstance, run_id: str, worker: threading.Thread, ended: threading.Event) -> None:
    from dagster._core.errors import DagsterExecutionInterruptedError

    from mssql_starrocks.lib.spark import cancel_running_jobs

    run = instance.get_run_by_id(run_id)
    if run is not None and not run.is_finished:
        instance.report_run_canceling(run, message="Ctrl-C in `mssql-starrocks run`: stopping the run")
    # The interrupt is raised in the worker at its next Python instruction; code that catches
    # everything (a driver's cleanup, a retry wait) may swallow one, so it is repeated until
    # Dagster has recorded the run as finished.
    deadline = time.monotonic() + GRACE_S
    try:
        while not ended.is_set() and time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run is None or not run.is_finished:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident),
                                                           ctypes.py_object(DagsterExecutionInterruptedError))
            cancel_running_jobs()  # a step waiting on a Spark job returns to meet the interrupt
            ended.wait(1.0)
        if not ended.is_set():
            session.current().log(f"the run did not stop within {GRACE_S:.0f}s; recording it as canceled")
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
        session.current().log("a second Ctrl-C: not waiting for the run to stop")
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status != dg.DagsterRunStatus.CANCELED:
        instance.report_run_canceled(run, message="Stopped by Ctrl-C in `mssql-starrocks run`")
