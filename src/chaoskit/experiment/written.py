"""The experiment as its author wrote it: the test's source, its ``chaos(...)`` arguments,
the load profile, the faults it injected, and the environment's targets.

The report shows it in a collapsed section, so that a reader who was not there can see what
was asked for beside what happened. Captured in the pytest process (the plugin reads the
test function's source with ``inspect``), carried by ``ExperimentSettings`` into the result,
and written to the journal with the rest of it: it goes through the same redaction
(``JournalWriter.finished``), since source code and arguments may hold a credential.

Everything here is text, bounded in size: a test function of thousands of lines, or an
argument whose ``repr`` is a megabyte, must not make the journal or the page heavy.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, is_dataclass, replace
from pathlib import Path
from typing import Final

from chaoskit.errors import ChaoskitError
from chaoskit.providers.makeup import Pairs, TargetMakeup, pairs
from chaoskit.typing import Environment

# Enough for any test function a person reads whole; a longer one is cut, and says so.
MAX_SOURCE_LINES: Final = 300
MAX_SOURCE_CHARS: Final = 16_000
MAX_VALUE_CHARS: Final = 1_000  # one argument, fault or setting as shown
MAX_FAULTS: Final = 50  # faults shown of one experiment (a loop may inject hundreds)
_CUT: Final = " …"


@dataclass(frozen=True, kw_only=True)
class AsWritten:
    """What the experiment's author wrote: see the module's docstring. Empty fields are what
    was not known (an experiment run without pytest has no source unless given one)."""

    source: str = ""  # the test function's source, cut at MAX_SOURCE_* with a note
    location: str = ""  # "path:line" of the function
    arguments: Pairs = ()  # the merged chaos(...) arguments, each as it reads
    load: Pairs = ()  # the load profile: locustfile, users, rate, workers, spawn rate, ...
    faults: tuple[str, ...] = ()  # each fault injected, with its arguments and hold
    targets: tuple[TargetMakeup, ...] = ()

    def __bool__(self) -> bool:
        return any((self.source, self.arguments, self.load, self.faults, self.targets))

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "location": self.location,
            "arguments": dict(self.arguments),
            "load": dict(self.load),
            "faults": list(self.faults),
            "targets": [target.to_json() for target in self.targets],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> AsWritten:
        faults, targets = data.get("faults", ()), data.get("targets", ())
        return cls(
            source=str(data.get("source", "")),
            location=str(data.get("location", "")),
            arguments=pairs(data.get("arguments", {})),
            load=pairs(data.get("load", {})),
            faults=tuple(str(f) for f in faults) if isinstance(faults, list | tuple) else (),
            targets=tuple(
                TargetMakeup.from_json(t)
                for t in (targets if isinstance(targets, list | tuple) else ())
                if isinstance(t, Mapping)
            ),
        )


def source_of(function: Callable[..., object]) -> tuple[str, str]:
    """``function``'s source and ``path:line``, bounded; ``("", "")`` when Python cannot read
    it (defined in a REPL, a C function, a file gone since)."""
    try:
        lines, first = inspect.getsourcelines(inspect.unwrap(function))
        path = inspect.getsourcefile(function) or ""
    except (OSError, TypeError):
        return "", ""
    kept = lines[:MAX_SOURCE_LINES]
    text = "".join(kept)
    cut = len(kept) < len(lines) or len(text) > MAX_SOURCE_CHARS
    text = text[:MAX_SOURCE_CHARS].rstrip("\n")
    if cut:
        whole = "".join(lines)
        text += f"\n# … cut here: the function has {len(lines)} lines, {len(whole)} characters"
    location = f"{_relative(path)}:{first}" if path else ""
    return text, location


def shown(value: object) -> str:
    """An argument as a reader recognises it: an objective as the verdict names it
    (``p99 < 300ms``), a list item by item, anything else as its ``repr``; bounded."""
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(shown(item) for item in value) + "]"
    else:
        describe = getattr(value, "describe", None)
        described = describe() if callable(describe) and hasattr(value, "phases") else None
        text = described if isinstance(described, str) else repr(value)
    return _bounded(text)


def marker_arguments(kwargs: Mapping[str, object]) -> Pairs:
    """The merged ``chaos(...)`` arguments, in the order written, each as it reads."""
    return tuple((str(name), shown(value)) for name, value in kwargs.items())


def load_profile(spec: object) -> Pairs:
    """Every field of a load spec (``load.Locust``), as it was resolved: a field added to
    the spec later shows up here without a change."""
    if not is_dataclass(spec) or isinstance(spec, type):
        return (("load", _bounded(repr(spec))),)
    return tuple(
        (field.name, _bounded(str(value) if isinstance(value, Path) else repr(value)))
        for field in fields(spec)
        for value in (getattr(spec, field.name),)
    )


def fault_as_written(fault: object, hold: object) -> str:
    """An injected fault with its arguments, and its hold as given."""
    held = "" if hold is None else f", hold={hold!r}"
    return _bounded(f"{fault!r}{held}")


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - len(_CUT)] + _CUT


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def with_urls(targets: tuple[TargetMakeup, ...], env: Environment) -> tuple[TargetMakeup, ...]:
    """``targets``, each with the url its load goes to where the environment holds one (a
    local target's fault proxy, an AWS target's configured url): read, never fetched."""
    described = []
    for target in targets:
        try:
            url = env.target(target.name).url
        except ChaoskitError:
            url = None
        known = dict(target.makeup)
        if url and "url" not in known:
            target = replace(target, makeup=(*target.makeup, ("url", str(url))))
        described.append(target)
    return tuple(described)
