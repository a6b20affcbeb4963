"""The ``chaoskit`` command: what happens outside a test run.

- ``chaoskit report``  re-render the HTML report (and index) from JSON journals;
- ``chaoskit recover`` find faults a killed run left active, and settle them;
- ``chaoskit publish`` upload a run's report, journal and the index to S3; print a link;
- ``chaoskit plan``    print what the experiments would do (``pytest --chaos-dry-run``);
- ``chaoskit stop``    halt every running experiment on this machine, and every running FIS
  experiment chaoskit started in the AWS environments of ``[tool.chaoskit]``;
- ``chaoskit worker``  run a load worker on this machine for a run's locust master
  (distributed load: ``load.Locust(..., remote_workers=N, master_bind=...)``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chaoskit._processes import process_has_exited, process_started_at
from chaoskit.errors import ChaoskitError
from chaoskit.load._wire import DEFAULT_MASTER_PORT

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaoskit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser(
        "report",
        help="re-render a run's HTML report from its JSON journal; several journals make one "
        "game-day report of them all",
    )
    report.add_argument(
        "journals",
        nargs="*",
        type=Path,
        help="chaoskit-*.json journals (default: the newest in --dir)",
    )
    report.add_argument(
        "--dir", type=Path, default=Path("reports"), help="report folder (default: reports)"
    )
    report.add_argument("--templates", type=Path, help="a folder of your own templates")

    publish = commands.add_parser(
        "publish", help="upload a run's report, journal and the index to S3; print a link"
    )
    publish.add_argument(
        "journal", nargs="?", type=Path, help="the run's chaoskit-*.json (default: the newest)"
    )
    publish.add_argument("--to", required=True, metavar="S3_URL", help="s3://BUCKET/PREFIX")
    publish.add_argument(
        "--expires", default="24h", help="how long the link works, up to 7d (default: 24h)"
    )
    publish.add_argument(
        "--dir", type=Path, default=Path("reports"), help="report folder (default: reports)"
    )

    recover = commands.add_parser("recover", help="settle faults a killed run left active")
    recover.add_argument(
        "--dir",
        type=Path,
        default=Path("reports"),
        help="report folder whose journals/ to scan (default: reports)",
    )

    stop = commands.add_parser(
        "stop",
        help="halt every running experiment on this machine (SIGTERM: revert, journal, report) "
        "and every running FIS experiment chaoskit started in the AWS environments",
    )
    stop.add_argument(
        "--dir",
        type=Path,
        default=Path("reports"),
        help="report folder whose journals/ name the running runs (default: reports)",
    )
    stop.add_argument(
        "--timeout",
        type=float,
        default=STOP_TIMEOUT,
        help=f"how long to wait for the runs to end, in seconds (default: {STOP_TIMEOUT:g})",
    )

    commands.add_parser(
        "plan",
        help="print what experiments would do, change nothing; pytest arguments follow "
        "(default path: experiments/)",
    )

    worker = commands.add_parser(
        "worker", help="run a load worker for the locust master of a run on another machine"
    )
    worker.add_argument("locustfile", type=Path, help="the same locust file the run uses")
    worker.add_argument("--master-host", required=True, help="address of the run's machine")
    worker.add_argument(
        "--master-port",
        type=int,
        default=DEFAULT_MASTER_PORT,
        help=f"its master_port (default: {DEFAULT_MASTER_PORT})",
    )

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["plan"]:  # everything after `plan` belongs to pytest, options included
        return _plan(argv[1:])
    args = parser.parse_args(argv)
    try:
        if args.command == "report":
            return _report(args.journals, args.dir, args.templates)
        if args.command == "publish":
            return _publish(args.journal, args.dir, args.to, args.expires)
        if args.command == "worker":
            return _worker(args.locustfile, args.master_host, args.master_port)
        if args.command == "stop":
            return _stop(args.dir, args.timeout)
        return _recover(args.dir)
    except ChaoskitError as error:
        print(f"chaoskit: {error}", file=sys.stderr)
        return 2


def _report(journals: list[Path], report_dir: Path, templates: Path | None) -> int:
    from chaoskit.experiment.journal_checks import check_journal
    from chaoskit.experiment.result import Journal
    from chaoskit.report import write_reports

    if not journals:
        found = sorted(report_dir.glob("chaoskit-*.json"))
        if not found:
            raise ChaoskitError(
                f"no journals (chaoskit-*.json) in {report_dir}/; run "
                f"`pytest experiments/` first or name journal files."
            )
        journals = found[-1:]
    read = []
    for path in journals:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            check_journal(data)  # a damaged field would fail deep in the renderer, or hang it
            journal = Journal.from_json(data)
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as error:
            raise ChaoskitError(
                f"{path} is not a chaoskit journal, or is damaged: {error}; render the other "
                f"journals by naming them, or restore this one from a copy"
            ) from error
        read.append(journal)
    if len(read) > 1:
        # Several runs named: one game-day report of them all.
        from chaoskit.report.gameday import merge_journals

        merged = merge_journals(read)
        written = write_reports(merged, report_dir, template_dir=templates)
        print(f"{', '.join(str(p) for p in journals)} -> {written[1]}")
        return 0
    [journal] = read
    written = write_reports(journal, report_dir, template_dir=templates)
    print(f"{journals[0]} -> {written[1]}")
    return 0


def _publish(journal: Path | None, report_dir: Path, url: str, expires: str) -> int:
    from chaoskit.durations import parse_duration
    from chaoskit.providers.aws.publish import publish

    if journal is None:
        found = sorted(report_dir.glob("chaoskit-*.json"))
        if not found:
            raise ChaoskitError(
                f"no journals (chaoskit-*.json) in {report_dir}/ to publish; run "
                f"`pytest experiments/` first, or name the journal"
            )
        journal = found[-1]
    page, index = journal.with_suffix(".html"), journal.parent / "index.html"
    missing = [str(path) for path in (journal, page, index) if not path.is_file()]
    if missing:
        raise ChaoskitError(
            f"cannot publish {journal.name}: {', '.join(missing)} not found; render the "
            f"report first with `chaoskit report {journal}`"
        )
    published = publish(
        [page, journal, index],
        url,
        page=page,
        expires_s=parse_duration(expires, field="--expires"),
    )
    for key in published.keys:
        print(f"uploaded s3://{url.removeprefix('s3://').split('/')[0]}/{key}")
    print(f"link (expires in {expires}): {published.link}")
    return 0


def _worker(locustfile: Path, master_host: str, master_port: int) -> int:
    # A process of its own: the worker is gevent-patched by locust, this one must not be.
    command = [
        sys.executable,
        "-m",
        "chaoskit.load._locust.worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--locustfile",
        str(locustfile.absolute()),
    ]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 130


def _recover(report_dir: Path) -> int:
    """Settle what killed runs left behind; exit 1 while anything needs a human."""
    from chaoskit.experiment.events import FaultReverted, RunFinished, RunStarted
    from chaoskit.experiment.journal import (
        JournalWriter,
        damaged_lines,
        read_events,
        unreadable_fault_events,
        unreverted_intents,
    )

    leftovers = needs_hand = in_progress = 0
    for path in sorted((report_dir / "journals").glob("*.jsonl")):
        try:
            intents = unreverted_intents(path)
            unreadable = unreadable_fault_events(path)
            damaged = damaged_lines(path)
        except OSError as error:
            needs_hand += 1
            print(f"CANNOT READ {path}: {error}; it may record a fault still active")
            continue
        for bad in damaged:
            # Text that could not be read at all may have been a fault's intent.
            needs_hand += bad.may_be_fault
            print(
                bad.describe()
                + ("; it may have recorded a fault: check by hand" if bad.may_be_fault else "")
            )
        if not intents and not unreadable:
            continue
        events = list(read_events(path))
        started = next((e for e in events if isinstance(e, RunStarted)), None)
        finished = any(isinstance(e, RunFinished) for e in events)
        if not finished and started is not None:
            alive = _run_process(started.pid, started.at)
            if alive:
                in_progress += 1
                print(f"skipping {path.name}: its run is still in progress ({alive})")
                continue
        for line in unreadable:
            # Whatever the provider: what this line injected, and where, is not known.
            leftovers += 1
            needs_hand += 1
            print(
                f"STILL ACTIVE? {line.describe()}; find out what it injected and revert it by "
                f"hand, then correct or delete the line"
            )
        leftovers += len(intents)
        if started is not None and started.provider == "aws" and intents:
            needs_hand += _recover_aws(path, started, intents, events)
            continue
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
    if in_progress:
        # Nothing is claimed about a run that is still going: its faults may be active.
        print(
            f"{in_progress} run(s) still in progress left alone; run chaoskit recover again "
            f"once they have ended"
        )
    elif not leftovers and not needs_hand:
        print(f"nothing to recover: every fault in {report_dir / 'journals'} was reverted")
    return 1 if needs_hand or in_progress else 0


def _recover_aws(
    path: Path, started: RunStarted, intents: list[FaultIntent], events: list[JournalEvent]
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


def _stop(report_dir: Path, timeout: float) -> int:
    """Halt every running run and every tagged FIS experiment; exit 1 while any may still run."""
    running = _running_runs(report_dir)
    for run in running:
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.pid, signal.SIGTERM)
        print(f"halting run {run.run_id} (pid {run.pid}, journal {run.journal})")
    still = _wait_until_ended(running, timeout)
    needs_hand = len(still)
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
        print(f"nothing to stop: no run in progress in {report_dir / 'journals'}")
    return 1 if needs_hand else 0


def _running_runs(report_dir: Path) -> list[_RunningRun]:
    """The runs whose journals have started, not finished, and whose process is alive."""
    from chaoskit.experiment.events import RunFinished, RunStarted
    from chaoskit.experiment.journal import read_events

    running = []
    for path in sorted((report_dir / "journals").glob("*.jsonl")):
        try:
            events = list(read_events(path))
        except OSError as error:
            print(f"CANNOT READ {path}: {error}")
            continue
        started = next((e for e in events if isinstance(e, RunStarted)), None)
        if (
            started is None
            or started.pid is None
            or any(isinstance(e, RunFinished) for e in events)
        ):
            continue
        if started.pid != os.getpid() and _run_process(started.pid, started.at):
            running.append(_RunningRun(run_id=started.run_id, pid=started.pid, journal=path))
    return running


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
    if pid is None:
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


def _plan(pytest_args: list[str]) -> int:
    # Without a path of its own, plan the experiments folder, whatever testpaths says.
    if not any(Path(arg).exists() for arg in pytest_args if not arg.startswith("-")):
        pytest_args = ["experiments/", *pytest_args]
    command = [sys.executable, "-m", "pytest", "--chaos-dry-run", "-rs", *pytest_args]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
