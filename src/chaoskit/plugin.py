"""The pytest plugin: the ``chaos`` marker, the ``chaos`` fixture and the ``--chaos-*`` options.

Thin by design: it turns markers, fixtures and options into calls of the library
(``chaoskit.experiment``) and maps each experiment's outcome onto pytest's:

- steady state broken before injection, or a failed revert -> error (setup / teardown);
- a fault that cannot be injected, an SLO breach, an inconclusive verdict -> failed (call).

Importing this module must stay cheap: no locust, no boto3 (``pytest --co`` loads it).

One concern, about 630 lines: pytest's side of chaoskit. It is the only module that may
import pytest besides ``hookspec``, so the hooks (options, collection checks, the fixture,
outcome mapping, the terminal summary and the reports at the session's end) live together
here; the work each hook does is in the library.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from chaoskit.config import (
    DEFAULT_REPORT_DIR,
    EnvironmentConfig,
    read_tool_table,
    report_dir_of,
    resolve_environment,
)
from chaoskit.durations import format_duration, parse_duration
from chaoskit.errors import (
    ChaoskitError,
    ConfigError,
    EnvironmentRefused,
    Inconclusive,
    RevertError,
    SLOBreached,
)
from chaoskit.interrupts import InterruptHandler
from chaoskit.providers import load_targets
from chaoskit.redaction import Redactor

if TYPE_CHECKING:
    from chaoskit.experiment.marker import ChaosMarker
    from chaoskit.experiment.protocol import ChaosExperiment, Notify
    from chaoskit.experiment.result import ExperimentResult, Journal
    from chaoskit.experiment.run import Run
    from chaoskit.experiment.written import AsWritten
    from chaoskit.load import Locust
    from chaoskit.providers.makeup import TargetMakeup
    from chaoskit.typing import Environment, LoadDriver


@dataclass(kw_only=True)
class _PluginState:
    config: pytest.Config
    env_config: EnvironmentConfig
    report_dir: Path
    dry_run: bool
    seed: int | None
    redactor: Redactor
    run_id: str
    publish: tuple[str, float] | None = None  # S3 location and link expiry (--chaos-publish)
    published: str = ""  # the link, or why publishing failed
    # The environment's targets, and whether each can take load; checked before the run.
    targets: dict[str, bool] = field(default_factory=dict)
    # How each target is made up, for the report's "as written" (described once a session).
    target_makeup: tuple[TargetMakeup, ...] | None = None
    run: Run | None = None
    journal: Journal | None = None
    reports: list[Path] = field(default_factory=list)
    # Experiments that never began (skipped, or a fixture before `chaos` failed), kept here
    # until the run exists or the session ends: a session of skips only opens no environment.
    unrun: list[ExperimentResult] = field(default_factory=list)
    order: dict[str, int] = field(default_factory=dict)  # node id -> place in the collection

    def ensure_run(self) -> Run:
        if self.run is None:
            from chaoskit.experiment.run import Run, locust_driver
            from chaoskit.providers import open_environment

            hook = self.config.hook
            env_config = self.env_config

            def make_environment(run_id: str) -> Environment:
                made: Environment | None = hook.pytest_chaoskit_make_environment(
                    config=self.config, env_config=env_config
                )
                if made is not None:
                    return made
                return open_environment(env_config, run_id=run_id)

            def make_load_driver(spec: Locust, url: str) -> LoadDriver:
                made = hook.pytest_chaoskit_make_load_driver(config=self.config, spec=spec, url=url)
                return made if made is not None else locust_driver(spec, url)

            self.run = Run(
                run_id=self.run_id,
                env_name=env_config.name,
                provider=env_config.provider,
                env_factory=make_environment,
                load_factory=make_load_driver,
                journal_dir=self.report_dir / "journals",
                seed=self.seed,
                clock=hook.pytest_chaoskit_clock(config=self.config),
                redactor=self.redactor,
                read_only=self.dry_run,
            )
        return self.run


_state_key = pytest.StashKey[_PluginState]()
_marker_key: pytest.StashKey[ChaosMarker] = pytest.StashKey()
_merged_key = pytest.StashKey[dict[str, object]]()  # the chaos markers' arguments
_experiment_key: pytest.StashKey[ChaosExperiment] = pytest.StashKey()
_xfailed_key = pytest.StashKey[bool]()
_interrupts_key = pytest.StashKey[InterruptHandler]()
_recorded_key = pytest.StashKey[bool]()  # the experiment's result is in the run


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from chaoskit import hookspec

    pluginmanager.add_hookspecs(hookspec)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaoskit", "chaos experiments (chaoskit)")
    group.addoption(
        "--chaos-env",
        metavar="NAME",
        help="environment to run experiments against, from [tool.chaoskit.env.NAME] "
        "(default: default_env, else the embedded 'local' system).",
    )
    group.addoption(
        "--chaos-report",
        metavar="DIR",
        help=f"folder for HTML reports and JSON journals (default: {DEFAULT_REPORT_DIR}/).",
    )
    group.addoption(
        "--chaos-dry-run",
        action="store_true",
        help="print each experiment's resolved plan; inject nothing, start no load.",
    )
    group.addoption(
        "--chaos-allow-destructive",
        action="store_true",
        help="let experiments inject faults into a non-local environment (an AWS account); "
        "without it such a run stops before touching anything (--chaos-dry-run needs no flag).",
    )
    group.addoption(
        "--chaos-publish",
        metavar="S3_URL",
        help="after the run, upload its HTML report, JSON journal and the index to "
        "s3://BUCKET/PREFIX and print a presigned link to the report.",
    )
    group.addoption(
        "--chaos-publish-expiry",
        metavar="DURATION",
        default="24h",
        help="how long the published report's link works, up to 7d (default: 24h).",
    )
    group.addoption(
        "--chaos-seed",
        metavar="N",
        type=int,
        help="seed for choosing victims, so a run can be repeated exactly (default: random).",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "chaos(load, steady_state, baseline='10s', recovery='15s', allow_inconclusive=False): "
        "a chaos experiment; use the `chaos` fixture to inject faults.",
    )
    try:
        table = read_tool_table(config.rootpath)
        env_config = resolve_environment(table, config.getoption("chaos_env"))
        redactor = Redactor(extra=tuple(table.get("redact", ())))
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    if (
        env_config.destructive
        and not config.getoption("chaos_dry_run")
        and not config.getoption("chaos_allow_destructive")
        and not config.getoption("collectonly")
    ):
        raise pytest.UsageError(
            f"environment {env_config.name!r} (provider {env_config.provider!r}) reaches real "
            f"resources: pass --chaos-allow-destructive to run its experiments, or "
            f"--chaos-dry-run to see what they would do without changing anything."
        )
    # A folder given on the command line is relative to where pytest was started; the one in
    # pyproject.toml (or the default) to the project's root.
    option = config.getoption("chaos_report")
    base = config.invocation_params.dir if option else config.rootpath
    report_dir = option or report_dir_of(table)
    from chaoskit.experiment.run import new_run_id

    publish = _publish_option(config)
    # Checked before anything starts, so that `pytest --co` and `chaoskit plan` find it too.
    problems = []
    try:
        targets = load_targets(env_config)
    except ConfigError as error:
        problems.append(str(error))
        targets = {}
    unwritable = _unwritable((base / report_dir).resolve())
    if unwritable:
        where = "--chaos-report" if option else "[tool.chaoskit] report_dir"
        problems.append(
            f"{where} {report_dir!r}: {unwritable}; choose a folder that can be written to."
        )
    if problems:
        raise pytest.UsageError("\n".join(problems))
    interrupts = InterruptHandler()
    interrupts.install()
    config.stash[_interrupts_key] = interrupts
    config.stash[_state_key] = _PluginState(
        config=config,
        env_config=env_config,
        report_dir=(base / report_dir).resolve(),
        dry_run=config.getoption("chaos_dry_run"),
        seed=config.getoption("chaos_seed"),
        redactor=redactor,
        run_id=new_run_id(time.time()),
        publish=publish,
        targets=targets,
    )


def _publish_option(config: pytest.Config) -> tuple[str, float] | None:
    """--chaos-publish, checked before anything runs: a typo must not cost a game day."""
    url = config.getoption("chaos_publish")
    if not url:
        return None
    # Only a run that publishes loads the AWS provider (and boto3).
    from chaoskit.providers.aws.publish import check_expiry, parse_destination

    try:
        parse_destination(url)
        expiry = parse_duration(
            config.getoption("chaos_publish_expiry"),
            field="--chaos-publish-expiry",
        )
        check_expiry(expiry)
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    return url, expiry


def _unwritable(folder: Path) -> str:
    """Why reports cannot be written to ``folder`` (made when first needed); "" when they can."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{folder} cannot be written: {existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{folder} cannot be written: no permission to write in {existing}"
    return ""


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Validate every experiment's marker before anything runs."""
    from chaoskit.experiment.marker import parse_marker

    problems = []
    state = config.stash.get(_state_key, None)
    # An environment made by a conftest (pytest_chaoskit_make_environment) has targets of its
    # own, which only exist once it is made.
    own_environment = bool(config.hook.pytest_chaoskit_make_environment.get_hookimpls())
    for index, item in enumerate(items):
        markers = list(item.iter_markers("chaos"))  # nearest first
        uses_fixture = "chaos" in getattr(item, "fixturenames", ())
        if not markers:
            if uses_fixture:
                problems.append(
                    f"{item.nodeid}: uses the chaos fixture but has no chaos marker; add "
                    f"@pytest.mark.chaos(load=..., steady_state=[...]) to it or its module."
                )
            continue
        merged = item.stash[_merged_key] = _merged_kwargs(markers)
        if state is not None:
            state.order[item.nodeid] = index
        try:
            parsed = item.stash[_marker_key] = parse_marker(markers[0].args, merged)
        except ConfigError as error:
            problems.append(f"{item.nodeid}: {error}")
            continue
        if own_environment or state is None:
            continue
        unloadable = _unloadable(parsed.load.target, state)
        if unloadable:
            problems.append(f"{item.nodeid}: {unloadable}")
    if problems:
        raise pytest.UsageError("invalid chaos experiment(s):\n  " + "\n  ".join(problems))


def _unloadable(target: str, state: _PluginState) -> str:
    """Why the load cannot go to ``target`` of the environment; "" when it can."""
    env = state.env_config.name
    if target not in state.targets:
        names = sorted(state.targets)
        return (
            f"load.Locust(target={target!r}): environment {env!r} has no target {target!r}; "
            f"its targets: {', '.join(names)}. Send the load to one of them, e.g. "
            f"load.Locust(..., target={names[0]!r})"
            if names
            else f"load.Locust(target={target!r}): environment {env!r} has no targets"
        )
    if not state.targets[target]:
        return (
            f"load.Locust(target={target!r}): target {target!r} of environment {env!r} has no "
            f"url to send load to; set url in [tool.chaoskit.env.{env}.targets.{target}]."
        )
    return ""


@pytest.fixture(scope="session")
def chaos_env(request: pytest.FixtureRequest) -> Environment:
    """The environment the experiments run against, to inspect targets from a test."""
    return _ensure_run(request).environment


def _ensure_run(request: pytest.FixtureRequest) -> Run:
    """The run, made on first use; an environment that refuses to open stops the session."""
    try:
        return request.config.stash[_state_key].ensure_run()
    except EnvironmentRefused as error:
        request.session.shouldstop = f"chaoskit: {error}"
        raise


@pytest.fixture
def chaos(request: pytest.FixtureRequest) -> Iterator[ChaosExperiment]:
    """The running experiment: baseline done and steady state checked; inject faults with it."""
    item = request.node
    state = request.config.stash[_state_key]
    marker = item.stash[_marker_key]
    run = _ensure_run(request)
    settings = marker.settings(item.nodeid, written=_as_written(item, state, run))
    notify = _progress(request.config, item.nodeid)
    if run.unlisted:
        notify(f"note: {run.unlisted}")
        run.unlisted = ""  # said once a run
    experiment: ChaosExperiment
    if state.dry_run:
        experiment = run.dry_run(settings, notify)
    else:
        try:
            experiment = run.experiment(settings, marker.load, notify)
        except Exception as error:
            # Its environment or its load could not be had: it is still a result of the run.
            _recorded(item, state, run.setup_failed(settings, error))
            raise
    item.stash[_experiment_key] = experiment
    try:
        experiment.start()
    except BaseException as error:
        broken = experiment.result or experiment.abort(error, during="setup")
        if broken is not None:
            run.record(broken)
            _recorded(item, state, broken)
        raise
    yield experiment
    # No verdict yet: the body never ran (a later fixture failed, or a skip); record why.
    drawn = experiment.result or experiment.abort(
        RuntimeError("pytest ended the test before its body completed"), during="setup"
    )
    if drawn is None:  # a dry run: it draws no verdict, so there is nothing to record
        return
    # What pytest decided (an xfail marker may not match the failure) is what the report says.
    result = replace(drawn, expected_to_fail=item.stash.get(_xfailed_key, False))
    run.record(result)
    _recorded(item, state, result)
    if result.cause == "revert_failed":
        item.session.shouldfail = _stop_the_run(result)
        raise RevertError(result.reason, failures=result.revert_failures)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """After the body: revert, recovery window, steady-state-after check, verdict."""
    experiment = item.stash.get(_experiment_key, None)
    if experiment is None:
        return (yield)
    try:
        outcome = yield
    except pytest.skip.Exception as skip:
        # pytest shows a skip, so the report must too: not a body that raised.
        if experiment.result is None:
            experiment.skip(skip.msg or "")
        raise
    except BaseException as error:
        if experiment.result is None:
            experiment.abort(error)
        raise
    try:
        result = experiment.finish()
    # The load or the environment broke while drawing the verdict, or the recovery window was
    # interrupted: either is recorded for what it was.
    except BaseException as error:
        if experiment.result is None:
            experiment.abort(error, during="setup")
        raise
    if result is None:  # a dry run: it planned, and that is all it does
        pytest.skip(experiment.summary())
    if result.outcome == "failed":
        raise _failure(result)
    return outcome  # a failed revert is raised at teardown, where pytest calls it an error


def _stop_the_run(result: ExperimentResult) -> str:
    """Why the session stops: each fault that may still be active, where, for the human who
    must revert it by hand."""
    active = "; ".join(
        f"{failure.fault} on {', '.join(failure.instance_ids)}"
        for failure in result.revert_failures
    )
    # Without records (a result built by hand), the reason is all there is to say.
    return "chaoskit: a fault could not be reverted; no further experiments run. " + (
        f"May still be active: {active}" if active else result.reason
    )


def _failure(result: ExperimentResult) -> ChaoskitError:
    if result.cause in ("slo_breached", "halted"):
        return SLOBreached(result.reason)
    if result.cause == "inconclusive":
        return Inconclusive(result.reason)
    return ChaoskitError(result.reason)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Show verdicts as their message: that traceback is chaoskit's, not the user's.

    A ConfigError keeps its traceback: it points at the user's own line (``faults.Latency(...)``).
    """
    report = yield
    if call.when == "call" and _experiment_key in item.stash:
        item.stash[_xfailed_key] = hasattr(report, "wasxfail")
    if call.when == "setup" and (report.skipped or report.failed):
        _record_unrun(item, call)
    excinfo = call.excinfo
    if (
        excinfo
        and isinstance(excinfo.value, ChaoskitError)
        and not isinstance(excinfo.value, ConfigError)
        and not hasattr(report, "wasxfail")
    ):
        report.longrepr = f"{type(excinfo.value).__name__}: {excinfo.value}"
    return report


def _record_unrun(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    """An experiment that ended in setup before its lifecycle began: skipped, or a fixture
    requested before ``chaos`` failed. A dry run records nothing: it runs no experiment."""
    state = item.config.stash.get(_state_key, None)
    marker = item.stash.get(_marker_key, None)
    if state is None or state.dry_run or marker is None or item.stash.get(_recorded_key, False):
        return
    from chaoskit.experiment.unrun import unrun_result

    error = call.excinfo.value if call.excinfo else None
    skipped = isinstance(error, pytest.skip.Exception) or error is None
    if skipped:
        reason = getattr(error, "msg", "") or "skipped"
    else:
        reason = f"{type(error).__name__}: {error}"
    result = unrun_result(
        marker.settings(item.nodeid, written=_as_written(item, state, state.run)),
        env=state.env_config.name,
        why="skipped" if skipped else "setup_failed",
        reason=reason,
        at=state.run.clock.now() if state.run else time.time(),
    )
    if state.run is not None:
        state.run.record_unrun(result)
    else:
        state.unrun.append(result)
    _recorded(item, state, result)


def _merged_kwargs(markers: Iterable[pytest.Mark]) -> dict[str, object]:
    """The ``chaos`` markers' arguments, nearest first in ``markers``: the nearest wins."""
    merged: dict[str, object] = {}
    for marker in reversed(list(markers)):
        merged.update(marker.kwargs)
    return merged


def _as_written(item: pytest.Item, state: _PluginState, run: Run | None) -> AsWritten:
    """What the experiment's author wrote, for the report: the test function's source, the
    merged ``chaos(...)`` arguments, the load and the environment's targets."""
    from chaoskit.experiment.written import (
        AsWritten,
        load_profile,
        marker_arguments,
        source_of,
        with_urls,
    )
    from chaoskit.providers.makeup import describe_targets

    merged = item.stash.get(_merged_key, None) or _merged_kwargs(item.iter_markers("chaos"))
    function = getattr(item, "function", None)
    source, location = source_of(function) if callable(function) else ("", "")
    if state.target_makeup is None:  # the same for every experiment of the session
        state.target_makeup = describe_targets(state.env_config)
    targets = state.target_makeup
    if run is not None and run.has_environment:
        targets = with_urls(targets, run.environment)
    return AsWritten(
        source=source,
        location=location,
        arguments=marker_arguments(merged),
        load=load_profile(item.stash[_marker_key].load),
        targets=targets,
    )


def _recorded(item: pytest.Item, state: _PluginState, result: ExperimentResult) -> None:
    """The experiment's verdict is in the run: ``--junitxml`` carries it as properties."""
    from chaoskit.report.junit import junit_properties

    item.stash[_recorded_key] = True
    report = state.report_dir / f"chaoskit-{state.run_id}.html"
    item.user_properties.extend(junit_properties(result, report=report))


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A chaoskit error while importing a module (a bad marker, a bad objective) is shown at
    the user's own line, without the frames of chaoskit's internals under it."""
    report = yield
    chain = getattr(report.longrepr, "chain", None)
    if report.failed and chain and "chaoskit.errors." in str(report.longrepr):
        for traceback, _crash, _description in chain:
            _drop_chaoskit_frames(traceback)
    return report


_PACKAGE_DIR = Path(__file__).resolve().parent


def _drop_chaoskit_frames(traceback: object) -> None:
    """Remove the entries of chaoskit's own frames; the error's lines move to the last frame
    that is left, the user's."""
    entries = getattr(traceback, "reprentries", None)
    if not entries:
        return
    kept = [entry for entry in entries if not _in_chaoskit(entry)]
    if not kept or len(kept) == len(entries):
        return
    last = entries[-1]
    if last is not kept[-1] and hasattr(kept[-1], "lines"):
        kept[-1].lines.extend(line for line in last.lines if line.startswith("E "))
    traceback.reprentries = kept  # type: ignore[attr-defined]  # pytest ReprTraceback, checked


def _in_chaoskit(entry: object) -> bool:
    location = getattr(entry, "reprfileloc", None)
    path = getattr(location, "path", None)
    if not isinstance(path, str):
        return False
    try:
        return Path(path).resolve().is_relative_to(_PACKAGE_DIR)
    except OSError:
        return False


@pytest.hookimpl(trylast=True)  # after pytest has torn down the fixtures, also on Ctrl-C
def pytest_sessionfinish(session: pytest.Session) -> None:
    state = session.config.stash.get(_state_key, None)
    if state is None or (state.run is None and not state.unrun):
        return
    from chaoskit.experiment import result as results
    from chaoskit.experiment.score import resilience_score

    run, state.run = state.run, None
    if run is not None:
        journal = run.close()
    else:
        moments = [r.started for r in state.unrun]
        journal = results.Journal(
            run_id=state.run_id,
            env=state.env_config.name,
            started=min(moments),
            finished=max(moments),
            seed=state.seed or 0,
        )
    # In the order pytest collected them, however each was recorded.
    experiments = sorted(
        [*journal.experiments, *state.unrun],
        key=lambda result: state.order.get(result.name, len(state.order)),
    )
    state.journal = replace(
        journal, experiments=tuple(experiments), resilience_score=resilience_score(experiments)
    )
    if state.journal.experiments:
        from chaoskit.report import write_reports

        state.reports = write_reports(state.journal, state.report_dir, redactor=state.redactor)
        if state.publish is not None:
            state.published = _publish(state.reports, *state.publish)


def _publish(reports: list[Path], url: str, expiry: float) -> str:
    """The presigned link, or why publishing failed: the run's verdict stands either way."""
    from chaoskit.providers.aws.publish import publish

    _latest, page, journal, index = reports
    try:
        published = publish([page, journal, index], url, page=page, expires_s=expiry)
    except ChaoskitError as error:
        return f"FAILED to publish to {url}: {error}"
    return f"{published.link} (expires in {format_duration(published.expires_s)})"


def pytest_unconfigure(config: pytest.Config) -> None:
    # sessionfinish normally closed the run; this covers a session that died before it.
    state = config.stash.get(_state_key, None)
    try:
        if state is not None and state.run is not None:
            state.run.close()
            state.run = None
    finally:
        interrupts = config.stash.get(_interrupts_key, None)
        if interrupts is not None:
            interrupts.uninstall()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(_state_key, None)
    if state is None or state.journal is None or not state.journal.experiments:
        return
    from chaoskit.report.text import summary_lines

    terminalreporter.section("chaoskit")
    for line in summary_lines(state.journal):
        terminalreporter.write_line(line)
    for path in state.reports:
        terminalreporter.write_line(f"report: {path}")
    if state.published:
        terminalreporter.write_line(f"published: {state.published}")


def _progress(config: pytest.Config, nodeid: str) -> Notify:
    """Phase changes go straight to the terminal, past output capturing, as they happen."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    started = time.monotonic()
    header_written = False

    def notify(message: str) -> None:
        nonlocal header_written
        if reporter is None or config.get_verbosity() < -1:  # silent only with -qq
            return
        with capture.global_and_fixture_disabled() if capture else nullcontext():
            if not header_written:
                reporter.ensure_newline()
                # With -q pytest writes each test's letter on one running line and
                # ensure_newline does not know of it: the header would follow the letter.
                writer = getattr(reporter, "_tw", None)
                if writer is not None and writer.width_of_current_line:
                    reporter.write("\n")
                reporter.write_line(f"chaos {nodeid}", bold=True)
                header_written = True
            reporter.write_line(f"  [{time.monotonic() - started:6.1f}s] {message}")

    return notify
