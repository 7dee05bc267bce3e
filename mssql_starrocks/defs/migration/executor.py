"""Several tables' steps at once in one process: a Dagster executor running steps in threads.

Most of a small table's step is waiting (SQL Server, the catalog, StarRocks, Spark's scheduler),
so one table at a time leaves the machine idle. This executor runs up to `max_concurrent`
steps side by side, in threads of the run's one process: they share the run's resources,
above all its one Spark session (a JVM per step, as the multiprocess executor would start, costs
seconds each) and the run's table locks. Dagster still schedules them: dependencies (a table's
raw -> iceberg -> starrocks and its blocking checks), retries, pools and the per-step events
are its own ActiveExecution's, so Dagit shows every table's steps, and a failing step skips
only what depends on it. With max_concurrent=1 it runs the steps one after another, as
Dagster's in-process executor does.
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
from contextlib import ExitStack
from typing import Iterator

import dagster as dg
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.context.system import PlanExecutionContext, PlanOrchestrationContext
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.execute_plan import _trigger_hook, dagster_event_sequence_for_step
from dagster._core.execution.compute_logs import create_compute_log_file_key
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.execution.plan.objects import StepFailureData
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode, get_retries_config
from dagster._core.executor.base import Executor
from dagster._core.executor.in_process import InProcessExecutor
from dagster._utils.error import serializable_error_info_from_exc_info

from mssql_starrocks import settings

_DONE = object()


class ThreadedExecutor(Executor):
    def __init__(self, retries: RetryMode, max_concurrent: int):
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, not {max_concurrent}")
        self._retries = retries
        self.max_concurrent = max_concurrent

    @property
    def retries(self) -> RetryMode:
        return self._retries

    def execute(self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        yield DagsterEvent.engine_event(
            plan_context, f"Executing up to {self.max_concurrent} step(s) at once in threads of one process",
            event_specific_data=EngineEventData())
        limit = self.max_concurrent

        def iterator(job_context: PlanExecutionContext, execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
            yield from _threaded_steps(job_context, execution_plan, limit)

        yield from iter(ExecuteRunWithPlanIterable(
            execution_plan=plan_context.execution_plan,
            iterator=iterator,
            execution_context_manager=PlanExecutionContextManager(
                job=plan_context.job, retry_mode=plan_context.retry_mode,
                execution_plan=plan_context.execution_plan, run_config=plan_context.run_config,
                dagster_run=plan_context.dagster_run, instance=plan_context.instance,
                raise_on_error=plan_context.raise_on_error, output_capture=plan_context.output_capture,
            ),
        ))


def _threaded_steps(job_context: PlanExecutionContext, plan: ExecutionPlan, limit: int) -> Iterator[DagsterEvent]:
    """Dagster's in-process loop, with up to `limit` steps running in threads; events are handled
    (ActiveExecution, hooks) in this thread only, in the order the steps produce them."""
    events: queue.Queue = queue.Queue()
    running: dict[str, tuple[threading.Thread, object, list]] = {}
    # Garbage this thread left (above all the SQLite connections of Dagster instances that
    # earlier runs in this process did not dispose) is collected here, not by the step thread whose
    # allocation happens to trigger the collector: SQLite refuses to be closed from another
    # thread ("SQLite objects created in a thread can only be used in that same thread").
    gc.collect()

    def work(step_key: str, step_context) -> None:
        try:
            for event in dagster_event_sequence_for_step(step_context):
                events.put((step_key, event))
        except BaseException:  # noqa: BLE001 - dagster_event_sequence_for_step turns step errors into events
            events.put((step_key, serializable_error_info_from_exc_info(sys.exc_info())))
        finally:
            events.put((step_key, _DONE))

    with ExitStack() as stack:
        concurrency = stack.enter_context(InstanceConcurrencyContext(job_context.instance, job_context.dagster_run))
        active = stack.enter_context(ActiveExecution(
            plan, retry_mode=job_context.retry_mode, max_concurrent=limit,
            instance_concurrency_context=concurrency, step_dependency_config=job_context.step_dependency_config))
        # The process's stdout/stderr for Dagit's run logs, as the in-process executor captures them.
        logs = job_context.instance.compute_log_manager
        log_key = logs.build_log_key_for_run(job_context.run_id, create_compute_log_file_key())
        log_context = stack.enter_context(logs.capture_logs(log_key))
        yield DagsterEvent.capture_logs(job_context, [s.key for s in plan.get_steps_to_execute_in_topo_order()],
                                        log_key, log_context)
        while not active.is_complete or running:
            for step in active.get_steps_to_execute(limit=limit - len(running)):
                step_context = job_context.for_step(step, active.get_known_state())
                thread = threading.Thread(target=work, args=(step.key, step_context), daemon=True,
                                          name=f"step {step.key}")
                running[step.key] = (thread, step_context, [])
                thread.start()
            yield from active.concurrency_event_iterator(job_context)
            if not running:
                active.sleep_til_ready()
                continue
            try:
                step_key, item = events.get(timeout=0.5)
            except queue.Empty:
                continue
            thread, step_context, step_events = running[step_key]
            if isinstance(item, DagsterEvent):
                step_events.append(item)
                yield item
                active.handle_event(item)
                continue
            if item is not _DONE:  # an error outside the step's own handling: fail the step with it
                failure = DagsterEvent.step_failure_event(step_context=step_context, step_failure_data=(
                    StepFailureData(error=item, user_failure_data=None)))
                step_events.append(failure)
                yield failure
                active.handle_event(failure)
                continue
            thread.join()
            del running[step_key]
            active.verify_complete(job_context, step_key)
            for event in active.plan_events_iterator(job_context):
                step_events.append(event)
                yield event
            yield from _trigger_hook(step_context, step_events)


@dg.executor(name="threaded", config_schema={
    "retries": get_retries_config(),
    "max_concurrent": dg.Field(dg.Noneable(int), default_value=None,
                               description="Steps (of different tables) that run at once in the run's process; "
                                           f"default: {settings.CONCURRENCY_ENV} when the run starts, else "
                                           f"{settings.DEFAULT_CONCURRENCY}."),
})
def threaded_executor(init_context) -> ThreadedExecutor | InProcessExecutor:
    """Up to `max_concurrent` steps at once in threads of the run's process, sharing its resources."""
    config = init_context.executor_config
    limit = config.get("max_concurrent") or settings.concurrency()
    if limit == 1:  # one step at a time: Dagster's own in-process executor, in the run's thread
        return InProcessExecutor(retries=RetryMode.from_config(config["retries"]))
    return ThreadedExecutor(retries=RetryMode.from_config(config["retries"]), max_concurrent=limit)


def execute_in_process(job: dg.JobDefinition, *, instance: dg.DagsterInstance, asset_selection, run_id: str | None = None,
                       raise_on_error: bool = False, concurrency: int | None = None) -> dg.ExecuteInProcessResult:
    """`job.execute_in_process`, but with the job's own executor (JobDefinition.execute_in_process
    always swaps in Dagster's one-step-at-a-time executor): the CLI's runs then take several
    tables at once, as runs Dagit or a schedule launch do. `concurrency` overrides the setting."""
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.execution.execute_in_process import core_execute_in_process

    selection = frozenset(asset_selection)
    subset = job.get_subset(asset_selection=selection)
    run_config = {"execution": {"config": {"max_concurrent": concurrency}}} if concurrency else {}
    return core_execute_in_process(run_config=run_config, job=InMemoryJob(subset), instance=instance,
                                   output_capturing_enabled=True, raise_on_error=raise_on_error, run_id=run_id,
                                   asset_selection=selection)
