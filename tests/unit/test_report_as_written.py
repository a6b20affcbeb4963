"""The experiment as written: the test's source, its chaos(...) arguments, the faults it
injected, the load profile and the environment's targets, in a collapsed section of the
report (rendered with jinja2 alone), kept in the journal through its redaction."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chaoskit import load, slo
from chaoskit.config import resolve_environment
from chaoskit.experiment import Experiment, ExperimentSettings, Journal, JournalWriter
from chaoskit.experiment.journal_checks import DamagedJournal, check_journal
from chaoskit.experiment.written import (
    MAX_SOURCE_CHARS,
    MAX_SOURCE_LINES,
    AsWritten,
    load_profile,
    marker_arguments,
    source_of,
    with_urls,
)
from chaoskit.providers.makeup import TargetMakeup, describe_targets
from chaoskit.report import render_html
from chaoskit.testing import FakeClock, FakeEnvironment, FakeFault, FakeLoadDriver

HOSTILE = "<script>alert(1)</script>"
LOCUSTFILE = Path(__file__).resolve().parents[2] / "experiments" / "locustfile.py"


class _Section(HTMLParser):
    """The text inside the page's ``details.as-written`` sections, and its raw markup."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[list[str]] = []
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "details" and ("class", "as-written") in attrs:
            self.sections.append([])
            self._depth = 1
        elif tag == "details" and self._depth:
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "details" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.sections[-1].append(data)


def _sections(html: str) -> list[str]:
    parser = _Section()
    parser.feed(html)
    return ["".join(section) for section in parser.sections]


def _written(**overrides: object) -> AsWritten:
    fields: dict[str, object] = {
        "source": f"def test_web(chaos):\n    chaos.inject(Latency(target='web'))  # {HOSTILE}\n",
        "location": f"experiments/test_{HOSTILE}.py:12",
        "arguments": (
            ("steady_state", f"[p99 < 300ms, {HOSTILE!r}]"),
            ("baseline", "'10s'"),
            ("halt_after", "3"),
        ),
        "load": (("locustfile", "/x/locustfile.py"), ("users", "20"), ("rate", "40.0")),
        "targets": (
            TargetMakeup(
                name="web",
                provider="local",
                makeup=(("replicas", "3"), ("url", f"http://127.0.0.1:1/{HOSTILE}")),
            ),
        ),
    }
    fields.update(overrides)
    return AsWritten(**fields)  # type: ignore[arg-type]  # the test's own keyword arguments


def _journal(tmp_path: Path, written: AsWritten) -> Journal:
    clock = FakeClock()
    experiment = Experiment(
        settings=ExperimentSettings(
            name="experiments/test_web.py::test_web",
            objectives=(slo.error_rate(below="1%"),),
            baseline=3,
            recovery=3,
            written=written,
        ),
        env=FakeEnvironment(name="local"),
        load=FakeLoadDriver(),
        journal=JournalWriter(tmp_path / "run.jsonl"),
        clock=clock,
        rng=random.Random(0),
    )
    result = experiment.run(lambda chaos: chaos.inject(FakeFault(), hold="2s"))
    return Journal(
        run_id="20261126-120000-abcdef",
        env="local",
        started=result.started,
        finished=clock.now(),
        seed=0,
        experiments=(result,),
    )


def test_the_report_shows_the_experiment_as_written_collapsed(tmp_path: Path) -> None:
    html = render_html(_journal(tmp_path, _written()))

    [section] = _sections(html)
    assert "def test_web(chaos):" in section
    assert "p99 < 300ms" in section and "halt_after" in section
    assert "locustfile" in section and "users" in section and "rate" in section
    assert "replicas" in section and "web" in section and "local" in section
    # The load argument points at the load profile rather than repeating it.
    journal = _journal(tmp_path / "load", _written(arguments=(("load", "Locust(users=20)"),)))
    [with_load] = _sections(render_html(journal))
    assert "Locust(users=20)" not in with_load and "the load profile below" in with_load
    # The fault the body injected, with its arguments and its hold, as the lifecycle saw it.
    assert "FakeFault(" in section and "hold='2s'" in section


def test_every_string_of_the_experiment_as_written_is_escaped(tmp_path: Path) -> None:
    html = render_html(_journal(tmp_path, _written()))

    assert HOSTILE not in html
    [section] = _sections(html)
    # What the reader sees is the text as it was, in the source, a location, an argument,
    # a target's url.
    assert section.count(HOSTILE) == 4


def test_an_experiment_without_anything_written_has_no_such_section(tmp_path: Path) -> None:
    journal = _journal(tmp_path, AsWritten())
    bare = Journal(
        **{
            **journal.__dict__,
            "experiments": tuple(
                type(e)(**{**e.__dict__, "written": AsWritten()}) for e in journal.experiments
            ),
        }
    )
    assert _sections(render_html(bare)) == []


def test_the_experiment_as_written_round_trips_through_the_journal(tmp_path: Path) -> None:
    journal = _journal(tmp_path, _written())
    data = json.loads(json.dumps(journal.to_json()))
    check_journal(data)

    again = Journal.from_json(data)
    assert again.experiments[0].written == journal.experiments[0].written
    [fault] = again.experiments[0].written.faults
    assert fault.startswith("FakeFault(target='web'") and fault.endswith(", hold='2s'")


def test_a_damaged_experiment_as_written_is_named(tmp_path: Path) -> None:
    data = json.loads(json.dumps(_journal(tmp_path, _written()).to_json()))
    data["experiments"][0]["as_written"]["load"] = {"users": 20}
    with pytest.raises(DamagedJournal, match=r"experiments\[0\]\.as_written\.load"):
        check_journal(data)


def test_a_credential_in_the_source_is_redacted_on_its_way_into_the_journal(
    tmp_path: Path,
) -> None:
    source = "def test_x(chaos):\n    login(password='hunter2hunter2')\n"
    journal = _journal(tmp_path, _written(source=source))

    recorded = journal.experiments[0].written.source
    assert "hunter2" not in recorded and "[redacted]" in recorded
    assert "hunter2" not in (tmp_path / "run.jsonl").read_text()


def test_a_long_test_function_is_cut_and_says_so() -> None:
    namespace: dict[str, object] = {}
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_SOURCE_LINES * 2))
    path = Path(__file__).parent / "_long_generated_function.py"
    try:
        path.write_text(f"def test_long(chaos):\n{body}")
        exec(compile(path.read_text(), str(path), "exec"), namespace)
        source, location = source_of(namespace["test_long"])  # type: ignore[arg-type]  # a function
    finally:
        path.unlink()

    assert len(source) <= MAX_SOURCE_CHARS + 200
    assert source.startswith("def test_long(chaos):")
    assert f"the function has {MAX_SOURCE_LINES * 2 + 1} lines" in source
    assert location.endswith("_long_generated_function.py:1")


def test_a_function_without_source_gives_none() -> None:
    assert source_of(len) == ("", "")


def test_marker_arguments_read_as_written() -> None:
    arguments = dict(
        marker_arguments(
            {
                "steady_state": [slo.latency(p=99, below="300ms"), "errors<1%"],
                "baseline": "10s",
                "halt_after": 2,
            }
        )
    )
    assert arguments == {
        "steady_state": "[p99 < 300ms, 'errors<1%']",
        "baseline": "'10s'",
        "halt_after": "2",
    }


def test_the_load_profile_lists_every_field_of_the_load_spec() -> None:
    profile = dict(load_profile(load.Locust(LOCUSTFILE, users=7, rate=14, workers=1)))
    assert profile["locustfile"] == str(LOCUSTFILE)
    assert profile["users"] == "7" and profile["rate"] == "14.0" and profile["workers"] == "1"
    assert profile["spawn_rate"] == "7.0" and profile["target"] == "'web'"


def test_local_targets_are_described_from_their_settings_with_the_url_the_load_goes_to() -> None:
    config = resolve_environment(
        {
            "env": {
                "local": {"targets": {"web": {"replicas": 4}, "db": {"upstreams": ["127.0.0.1:5"]}}}
            }
        },
        "local",
    )
    described = {t.name: dict(t.makeup) for t in describe_targets(config)}
    assert described["web"]["replicas"] == "4"
    assert described["db"]["upstreams"] == "127.0.0.1:5" and "replicas" not in described["db"]

    env = FakeEnvironment(name="local")
    [web] = with_urls((TargetMakeup(name="web", provider="local"),), env)
    assert dict(web.makeup)["url"] == env.target("web").url
