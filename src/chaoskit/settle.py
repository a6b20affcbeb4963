"""Settling what runs left behind: ``chaoskit recover`` (faults a killed run left active)
and ``chaoskit stop`` (halting the runs still going, and chaoskit's FIS experiments)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chaoskit._processes import process_has_exited, process_started_at
from chaoskit.errors import ChaoskitError
from chaoskit.experiment.registry import registered_journals, runs_dir, unregister

if TYPE_CHECKING:
    from chaoskit.experiment.events import FaultIntent, JournalEvent, RunStarted

# A run halted with SIGTERM reverts its faults, waits for its load to stop and writes its
# report: seconds, plus the recovery of what it reverted.
STOP_TIMEOUT = 60.0
STOP_POLL = 0.2


@dataclass(frozen=True, kw_only=True)
class _RunningRun:
    run_id: str
    pid: int
    journal: Path


def recover_runs(report_dir: Path) -> int:
    """Settle what killed runs left behind, in ``report_dir`` and wherever the machine's list
    of runs points; exit 1 while anything needs a human."""
    leftovers = needs_hand = in_progress = 0
    listed = registered_journals()
    for path in _journals(report_dir, listed):
        outcome = _recover_journal(path)
        leftovers += outcome.leftovers
        needs_hand += outcome.needs_hand
        in_progress += outcome.in_progress
        run_id = listed.get(path.resolve())
        if run_id is not None and not outcome.in_progress and not outcome.needs_hand:
            unregister(run_id)  # nothing of it is left to settle
    if in_progress:
        # Nothing is claimed about a run that is still going: its faults may be active.
        print(
            f"{in_progress} run(s) still in progress left alone; run chaoskit recover again "
            f"once they have ended"
        )
    elif not leftovers and not needs_hand:
        print(
            f"nothing to recover: every fault in {report_dir / 'journals'} and in the runs "
            f"listed in {runs_dir()} was reverted"
        )
    return 1 if needs_hand or in_progress else 0


@dataclass(frozen=True, kw_only=True)
class _Recovered:
    leftovers: int = 0  # faults found open
    needs_hand: int = 0  # of them, or of the journal's lines, what a human must settle
    in_progress: int = 0  # 1 when the journal's run is still going (left alone)


def _recover_journal(path: Path) -> _Recovered:
    from chaoskit.experiment.events import FaultReverted, RunFinished, RunStarted
    from chaoskit.experiment.journal import JournalWriter, scan

    try:
        journal = scan(path)
    except OSError as error:
        print(f"CANNOT READ {path}: {error}; it may record a fault still active")
        return _Recovered(needs_hand=1)
    intents, unreadable, events = journal.open_intents, journal.unreadable, journal.events
    needs_hand = 0
    for bad in journal.damaged:
        # Text that could not be read at all may have been a fault's intent.
        needs_hand += bad.may_be_fault
        print(
            bad.describe()
            + ("; it may have recorded a fault: check by hand" if bad.may_be_fault else "")
        )
    if not intents and not unreadable:
        return _Recovered(needs_hand=needs_hand)
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    finished = any(isinstance(e, RunFinished) for e in events)
    if not finished and started is not None:
        alive = _run_process(started.pid, started.at)
        if alive:
            print(f"skipping {path.name}: its run is still in progress ({alive})")
            return _Recovered(needs_hand=needs_hand, in_progress=1)
    for line in unreadable:
        # Whatever the provider: what this line injected, and where, is not known.
        needs_hand += 1
        print(
            f"STILL ACTIVE? {line.describe()}; find out what it injected and revert it by "
            f"hand, then correct or delete the line"
        )
    leftovers = len(unreadable) + len(intents)
    if started is not None and started.provider == "aws" and intents:
        needs_hand += _recover_aws(path, started, intents, events)
        return _Recovered(leftovers=leftovers, needs_hand=needs_hand)
    for intent in intents:
        where = f"{intent.fault} on {', '.join(intent.instance_ids)} ({intent.env})"
        if started is None or started.provider != "local":
            needs_hand += 1
            print(f"STILL ACTIVE? {where}: revert it by hand; journal {path}")
            continue
        # The local system lives and dies with its pytest session: once that process is
        # gone, so is every fault it held.
        writer = JournalWriter(path)
        writer.append(
            FaultReverted(
                injection_id=intent.injection_id,
                by="chaoskit recover",
                note="local system no longer running",
            )
        )
        writer.close()
        print(f"settled {where}: the local system that held it has stopped")
    return _Recovered(leftovers=leftovers, needs_hand=needs_hand)


def _journals(report_dir: Path, listed: dict[Path, str]) -> list[Path]:
    """The journals of ``report_dir`` and those the machine's list names, each once."""
    found = {path.resolve(): path for path in sorted((report_dir / "journals").glob("*.jsonl"))}
    for path in listed:
        found.setdefault(path.resolve(), path)
    return list(found.values())


def _recover_aws(
    path: Path,
    started: RunStarted,
    intents: Sequence[FaultIntent],
    events: Sequence[JournalEvent],
) -> int:
    """Settle a killed AWS run's open faults in its account; how many need a human."""
    from chaoskit.experiment.events import FaultInjected, FaultReverted
    from chaoskit.experiment.journal import JournalWriter
    from chaoskit.providers.aws.recover import LeftOpen, recover_run

    undos = {e.injection_id: e.undo for e in events if isinstance(e, FaultInjected)}
    by_id = {intent.injection_id: intent for intent in intents}
    settlements = recover_run(
        run_id=started.run_id,
        env=started.env,
        settings=started.settings,
        left=[
            LeftOpen(
                injection_id=intent.injection_id,
                fault=intent.fault,
                instance_ids=intent.instance_ids,
                undo=undos.get(intent.injection_id),
            )
            for intent in intents
        ],
    )
    needs_hand = 0
    writer = JournalWriter(path)
    try:
        for settlement in settlements:
            intent = by_id[settlement.injection_id]
            where = f"{intent.fault} on {', '.join(intent.instance_ids)} ({intent.env})"
            if not settlement.settled:
                needs_hand += 1
                print(f"STILL ACTIVE? {where}: {settlement.note}; journal {path}")
                continue
            writer.append(
                FaultReverted(
                    injection_id=intent.injection_id, by="chaoskit recover", note=settlement.note
                )
            )
            print(f"settled {where}: {settlement.note}")
    finally:
        writer.close()
    return needs_hand


def stop_runs(report_dir: Path, timeout: float) -> int:
    """Halt every running run and every tagged FIS experiment; exit 1 while any may still run."""
    running, unsure = _running_runs(report_dir)
    for run in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.pid, signal.SIGTERM)
        print(f"halting run {run.run_id} (pid {run.pid}, journal {run.journal})")
    for run in unsure:
        print(
            f"NOT SIGNALLED: run {run.run_id}'s journal names process {run.pid}, which is alive, "
            f"but whether it is the run's cannot be told here; if it is, end it with "
            f"kill -TERM {run.pid}"
        )
    still = _wait_until_ended(running, timeout)
    needs_hand = len(still) + len(unsure)
    for run in running:
        if run in still:
            print(
                f"STILL RUNNING after {timeout:g}s: run {run.run_id} (pid {run.pid}); end it "
                f"with kill -9 {run.pid}, then run chaoskit recover --dir {report_dir}"
            )
        else:
            print(f"stopped run {run.run_id}: its faults reverted, its journal and report written")
    stopped_fis, fis_problems = _stop_fis()
    needs_hand += fis_problems
    if not running and not stopped_fis and not needs_hand:
        print(
            f"nothing to stop: no run in progress in {report_dir / 'journals'} nor in the "
            f"runs listed in {runs_dir()}"
        )
    return 1 if needs_hand else 0


def _running_runs(report_dir: Path) -> tuple[list[_RunningRun], list[_RunningRun]]:
    """The runs whose journals have started, not finished, and whose process is alive: those
    whose process is surely the run's, and those where that cannot be told (never signalled:
    a wrong guess would halt another program)."""
    from chaoskit.experiment.events import RunFinished, RunStarted
    from chaoskit.experiment.journal import read_events

    running, unsure = [], []
    for path in _journals(report_dir, registered_journals()):
        try:
            events = list(read_events(path))
        except OSError as error:
            print(f"CANNOT READ {path}: {error}")
            continue
        started = next((e for e in events if isinstance(e, RunStarted)), None)
        if (
            started is None
            or started.pid is None
            or started.pid == os.getpid()
            or any(isinstance(e, RunFinished) for e in events)
        ):
            continue
        run = _RunningRun(run_id=started.run_id, pid=started.pid, journal=path)
        alive = _run_process(started.pid, started.at)
        if alive and process_started_at(started.pid) is not None:
            running.append(run)
        elif alive:
            unsure.append(run)
    return running, unsure


def _wait_until_ended(running: list[_RunningRun], timeout: float) -> list[_RunningRun]:
    """Those of ``running`` still alive once all ended or ``timeout`` passed."""
    from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

    def alive() -> list[_RunningRun]:
        return [run for run in running if _run_process(run.pid, None)]

    retrying = Retrying(
        stop=stop_after_delay(timeout), wait=wait_fixed(STOP_POLL), retry=retry_if_result(bool)
    )
    try:
        return retrying(alive)
    except RetryError as error:
        left: list[_RunningRun] = error.last_attempt.result()
        return left


def _stop_fis() -> tuple[int, int]:
    """Stop the tagged FIS experiments of every AWS environment of ./pyproject.toml; how many
    were stopped, and how many problems need a human."""
    from chaoskit.config import read_tool_table, resolve_environment

    try:
        table = read_tool_table(Path.cwd())
    except ChaoskitError as error:
        print(f"AWS environments not checked: {error}")
        return 0, 1
    stopped = problems = 0
    environments = table.get("env", {})
    for name in sorted(environments):
        try:
            env = resolve_environment(table, name)
        except ChaoskitError as error:
            print(f"environment {name!r} not checked: {error}")
            problems += 1
            continue
        if env.aws is None:
            continue
        from chaoskit.providers.aws.recover import stop_fis_experiments

        outcome = stop_fis_experiments(env.aws)
        for experiment in outcome.stopped:
            print(f"stopped FIS experiment {experiment} in environment {name!r}")
        for problem in outcome.problems:
            print(f"STILL RUNNING? environment {name!r}: {problem}")
        stopped += len(outcome.stopped)
        problems += len(outcome.problems)
    return stopped, problems


def _run_process(pid: int | None, run_started: float | None) -> str:
    """Why process ``pid`` is taken for the run's own, still running; "" when it is not.

    A process id is reused once its process has ended: a live process that started after
    the run did is another one."""
    if pid is None or pid <= 1:  # never a run's: os.kill would reach a group or everyone
        return ""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return ""
    except PermissionError:
        pass  # alive, someone else's
    if process_has_exited(pid):
        return ""
    started = process_started_at(pid)
    # /proc's boot time is in whole seconds: a second of slack either way.
    if started is not None and run_started is not None and started > run_started + 1:
        return ""
    if started is None:
        return f"process {pid} is alive; when it started cannot be told here"
    return f"process {pid} is alive and started before the run"
