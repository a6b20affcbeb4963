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
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from chaoskit.config import DEFAULT_REPORT_DIR, project_report_dir
from chaoskit.errors import ChaoskitError
from chaoskit.load._wire import DEFAULT_MASTER_PORT
from chaoskit.settle import STOP_TIMEOUT, recover_runs, stop_runs

# Where the commands look when --dir is not given.
DIR_DEFAULT = f"[tool.chaoskit] report_dir of ./pyproject.toml, else {DEFAULT_REPORT_DIR}"


def _project_report_dir() -> Path:
    folder = project_report_dir(Path.cwd())
    # Said as the user wrote it: relative to here, unless they gave it absolute.
    return folder.relative_to(Path.cwd()) if folder.is_relative_to(Path.cwd()) else folder


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
        "--dir", type=Path, default=None, help=f"report folder (default: {DIR_DEFAULT})"
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
        "--dir", type=Path, default=None, help=f"report folder (default: {DIR_DEFAULT})"
    )

    recover = commands.add_parser("recover", help="settle faults a killed run left active")
    recover.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"report folder whose journals/ to scan, besides the runs listed on this machine "
        f"(default: {DIR_DEFAULT})",
    )

    stop = commands.add_parser(
        "stop",
        help="halt every running experiment on this machine (SIGTERM: revert, journal, report) "
        "and every running FIS experiment chaoskit started in the AWS environments",
    )
    stop.add_argument(
        "--dir",
        type=Path,
        default=None,
        help=f"report folder whose journals/ name running runs, besides the runs listed on "
        f"this machine (default: {DIR_DEFAULT})",
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
        if getattr(args, "dir", False) is None:
            args.dir = _project_report_dir()
        if args.command == "report":
            return _report(args.journals, args.dir, args.templates)
        if args.command == "publish":
            return _publish(args.journal, args.dir, args.to, args.expires)
        if args.command == "worker":
            return _worker(args.locustfile, args.master_host, args.master_port)
        if args.command == "stop":
            return stop_runs(args.dir, args.timeout)
        return recover_runs(args.dir)
    except ChaoskitError as error:
        print(f"chaoskit: {error}", file=sys.stderr)
        return 2


def _report(journals: list[Path], report_dir: Path, templates: Path | None) -> int:
    from chaoskit.experiment.journal import TOO_MANY_DIGITS
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
            text = path.read_text(encoding="utf-8")
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                raise
            except ValueError:  # valid JSON json.loads refuses: see TOO_MANY_DIGITS
                raise ValueError(f"it holds {TOO_MANY_DIGITS}") from None
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
        print(f"uploaded s3://{published.bucket}/{key}")
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


def _plan(pytest_args: list[str]) -> int:
    # Without a path of its own, plan the experiments folder, whatever testpaths says.
    if not any(Path(arg).exists() for arg in pytest_args if not arg.startswith("-")):
        pytest_args = ["experiments/", *pytest_args]
    command = [sys.executable, "-m", "pytest", "--chaos-dry-run", "-rs", *pytest_args]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
