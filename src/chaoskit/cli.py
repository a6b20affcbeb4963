"""The ``chaoskit`` command: what happens outside a test run.

- ``chaoskit report``  re-render the HTML report (and index) from JSON journals;
- ``chaoskit recover`` find faults a killed run left active, and settle them;
- ``chaoskit plan``    print what the experiments would do (``pytest --chaos-dry-run``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from chaoskit.errors import ChaoskitError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chaoskit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="re-render HTML reports from JSON journals")
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

    recover = commands.add_parser("recover", help="settle faults a killed run left active")
    recover.add_argument(
        "--dir",
        type=Path,
        default=Path("reports"),
        help="report folder whose journals/ to scan (default: reports)",
    )

    plan = commands.add_parser("plan", help="print what experiments would do; change nothing")
    plan.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="arguments for pytest (default: experiments/)"
    )

    args = parser.parse_args(argv)
    try:
        if args.command == "report":
            return _report(args.journals, args.dir, args.templates)
        if args.command == "recover":
            return _recover(args.dir)
        return _plan(args.pytest_args)
    except ChaoskitError as error:
        print(f"chaoskit: {error}", file=sys.stderr)
        return 2


def _report(journals: list[Path], report_dir: Path, templates: Path | None) -> int:
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
    for path in journals:
        try:
            journal = Journal.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ChaoskitError(f"{path} is not a chaoskit journal: {error}") from error
        written = write_reports(journal, report_dir, template_dir=templates)
        print(f"{path} -> {written[1]}")
    return 0


def _recover(report_dir: Path) -> int:
    from chaoskit.experiment.journal import JournalWriter, unreverted_intents

    leftovers = 0
    for path in sorted((report_dir / "journals").glob("*.jsonl")):
        intents = unreverted_intents(path)
        if intents and _run_is_alive(path):
            print(f"skipping {path.name}: its run is still in progress")
            continue
        for intent in intents:
            leftovers += 1
            where = f"{intent['fault']} on {', '.join(intent['instance_ids'])} ({intent['env']})"
            if intent.get("env") != "local":
                print(f"STILL ACTIVE? {where}: revert it by hand; journal {path}")
                continue
            # The local system lives and dies with its pytest session: once that process is
            # gone, so is every fault it held.
            writer = JournalWriter(path)
            writer.append(
                "fault_reverted",
                durable=True,
                injection_id=intent["injection_id"],
                by="chaoskit recover",
                note="local system no longer running",
            )
            writer.close()
            print(f"settled {where}: the local system that held it has stopped")
    if not leftovers:
        print(f"nothing to recover: every fault in {report_dir / 'journals'} was reverted")
    return 0


def _run_is_alive(journal: Path) -> bool:
    from chaoskit.experiment.journal import read_events

    for event in read_events(journal):
        if event["event"] == "run_finished":
            return False
        if event["event"] == "run_started" and event.get("pid"):
            try:
                os.kill(int(event["pid"]), 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return True
    return False


def _plan(pytest_args: list[str]) -> int:
    command = [sys.executable, "-m", "pytest", "--chaos-dry-run", "-rs"]
    return subprocess.call([*command, *(pytest_args or ["experiments/"])])


if __name__ == "__main__":
    sys.exit(main())
