"""AWS's public FIS template library, every template of it: validated against botocore's
model, planned locally, and either rehearsed on the local system or refused naming each
action it cannot rehearse; with ``unsupported="skip"``, what is left of it rehearsed.

The results make the table in docs/fis-rehearsal.md. The test compares the table with the
page and fails on any difference; ``CHAOSKIT_WRITE_DOCS=1`` writes it there instead. The
library lives outside the repository (``CHAOSKIT_FIS_TEMPLATE_DIR``, or
``../shared/fis-templates`` beside it): without it the test is skipped.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fis_library import library

from chaoskit import faults
from chaoskit.errors import ConfigError, InjectionError
from chaoskit.faults.fis_rehearsal import Rehearsal
from chaoskit.faults.fis_rehearsal.run import _wait
from chaoskit.faults.fis_template import read_template
from chaoskit.providers.local import LocalEnvironment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "fis-rehearsal.md"
START, END = "<!-- template-table:start -->", "<!-- template-table:end -->"
# Each rehearsal takes at most this long on the local system, whatever the template's length.
LONGEST = 2.0


LIBRARY = library()


@pytest.fixture(scope="module")
def env() -> Iterator[LocalEnvironment]:
    environment = LocalEnvironment.start({"web": {"replicas": 3, "replace_delay": 0.5}})
    yield environment
    environment.close()


def _rehearse(env: LocalEnvironment, path: Path, *, unsupported: str) -> str:
    """What rehearsing ``path`` gives, in words: refused (why) or each action's end state."""
    read = read_template(str(path), field="template")
    assert not isinstance(read, str)
    mapped = dict.fromkeys(read.body.get("targets") or {}, "web")
    dry = faults.FisExperiment(template=str(path), targets=mapped, unsupported=unsupported)
    try:
        plan = dry.plan(env, random.Random(1))
    except ConfigError as error:
        refused = re.findall(r"^  (\S+) \(([^)]+)\):", str(error), flags=re.MULTILINE)
        return "refused: " + ", ".join(f"{name} (`{action}`)" for name, action in refused)
    length = plan.details["rehearsal"].length
    scale = min(1.0, LONGEST / length) if length else 1.0
    fault = faults.FisExperiment(
        template=str(path), targets=mapped, unsupported=unsupported, time_scale=scale
    )
    try:
        rehearsal = fault.inject(fault.plan(env, random.Random(1)), env)
    except InjectionError as error:
        return f"failed: {error}"
    assert isinstance(rehearsal, Rehearsal)
    try:
        assert _wait(LONGEST + 20, until=lambda: rehearsal.state != "running", wake=None)
    finally:
        rehearsal.revert()
    assert env.target("web").active_faults() == []
    details = rehearsal.details
    states = ", ".join(f"{a['name']} {a['state']}" for a in details["actions"])
    return f"{details['state']['status']}: {states}"


def _row(env: LocalEnvironment, path: Path) -> tuple[str, str, str]:
    """The model's verdict, the rehearsal as written, and with unsupported actions skipped."""
    try:
        read = read_template(str(path), field="template")
    except ConfigError as error:
        field = str(error).splitlines()[1].split(", must be")[0]
        return f"refused: {field}", "—", "—"
    assert not isinstance(read, str)
    actions = ", ".join(sorted({f"`{a['actionId']}`" for a in read.body["actions"].values()}))
    as_written = _rehearse(env, path, unsupported="error")
    skipping = _rehearse(env, path, unsupported="skip") if as_written.startswith("refused") else "—"
    return f"valid; {actions}", as_written, skipping


@pytest.mark.skipif(LIBRARY is None, reason="AWS's FIS template library is not beside the repo")
def test_every_template_of_the_library_is_rehearsed_or_refused_as_the_page_says(
    env: LocalEnvironment,
) -> None:
    assert LIBRARY is not None
    paths = sorted(LIBRARY.glob("*.json"))
    assert len(paths) >= 20
    rows = {path.name: _row(env, path) for path in paths}
    table = "\n".join(
        [
            '| template | botocore\'s model | rehearsed as written | with `unsupported="skip"` |',
            "|---|---|---|---|",
            *(f"| `{name}` | {' | '.join(row)} |" for name, row in rows.items()),
        ]
    )
    rehearsed = sum(row[1].startswith("completed:") for row in rows.values())
    summary = (
        f"{len(paths)} templates: {sum(row[0].startswith('valid') for row in rows.values())} "
        f"valid, {rehearsed} rehearsed as written (every action completed), "
        f"{sum(row[1].startswith('refused') for row in rows.values())} refused naming their "
        f"unrehearsable actions."
    )
    block = f"{START}\n{summary}\n\n{table}\n{END}"
    page = PAGE.read_text(encoding="utf-8")
    written = page[page.index(START) : page.index(END) + len(END)]
    if os.environ.get("CHAOSKIT_WRITE_DOCS") == "1":
        PAGE.write_text(page.replace(written, block), encoding="utf-8")
        return
    assert written == block, (
        "docs/fis-rehearsal.md's table differs from what the library gives now; run this "
        "test with CHAOSKIT_WRITE_DOCS=1 to write it, and review the difference."
    )
    assert rehearsed >= 4
