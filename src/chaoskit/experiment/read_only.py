"""The environment a dry run hands out: every read goes through, every change is refused.

``--chaos-dry-run`` promises that nothing changes. A test body still runs in a dry run (its
``chaos.inject`` calls are what the plan is made of), and a body may reach the environment
itself, through the ``chaos_env`` fixture: ``chaos_env.target("web").terminate([...])``. So
the environment of a dry run is this view of the real one. Reading (``instances``,
``active_faults``, ``url``, ``wait_healthy``, and plain attributes such as a Prometheus url)
goes through; any other method of a target or of the environment raises ``DryRunRefused``
naming the call, before it reaches the environment. Allowing reads by name, not refusing
writes by name, keeps a provider's method added later refused until it is known to be safe.

Attributes are read through the same view: a plain value (text, a number, None, a tuple or
frozenset of them, a frozen dataclass of them such as an ``Instance``) as it is; a list, set
or mapping as a tuple, frozenset or read-only mapping of read-only values; anything else (a
target's ``env``, an AWS environment's ``clients`` or ``fis``) in a ``ReadOnlyView``, whose
every method is refused and whose attributes are read-only in turn. Private attributes
(``_control``) are refused: they are the provider's, not the body's. The view guards
against a body changing the environment by accident; Python cannot stop one set on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeGuard

from chaoskit.errors import DryRunRefused
from chaoskit.typing import Environment, Target
from chaoskit.vocabulary import Instance, NetworkFault

# The methods that only read: everything else of a target or an environment is refused.
# Planning reads too: a target checks a fault against its blast radius (``check_fault``), an
# FIS template is fetched by id (``fis_template``), a rehearsal looks its targets up by name.
TARGET_READS: Final = frozenset({"instances", "active_faults", "wait_healthy", "check_fault"})
ENVIRONMENT_READS: Final = frozenset({"target", "close", "fis_template", "target_names"})


def _refuse(owner: str, call: str) -> NoReturn:
    raise DryRunRefused(
        f"{owner}.{call} was refused: this is a dry run (--chaos-dry-run), which changes "
        f"nothing; the test body runs so that its chaos.inject calls can be planned, but "
        f"what would change the environment is refused. Run without --chaos-dry-run to do it, "
        f"or skip that step in a dry run (request.config.getoption('chaos_dry_run'))."
    )


def _refusing(owner: str, call: str) -> Callable[..., NoReturn]:
    def refused(*args: object, **kwargs: object) -> NoReturn:
        _refuse(owner, call)

    return refused


class ReadOnlyTarget:
    def __init__(self, target: Target) -> None:
        self._target = target
        self.name = target.name
        self._owner = f"target {target.name!r}"

    @property
    def url(self) -> str | None:
        return self._target.url

    def instances(self) -> list[Instance]:
        return self._target.instances()

    def active_faults(self) -> list[str]:
        return self._target.active_faults()

    def wait_healthy(self, timeout: float) -> None:
        self._target.wait_healthy(timeout)

    def terminate(self, instance_ids: Sequence[str]) -> None:
        _refuse(self._owner, "terminate")

    def add_network_fault(self, instance_ids: Sequence[str], fault: NetworkFault) -> str:
        _refuse(self._owner, "add_network_fault")

    def stop_instances(self, instance_ids: Sequence[str]) -> str:
        _refuse(self._owner, "stop_instances")

    def reboot_instances(self, instance_ids: Sequence[str]) -> None:
        _refuse(self._owner, "reboot_instances")

    def stress_cpu(self, instance_ids: Sequence[str], *, workers: int = 1) -> str:
        _refuse(self._owner, "stress_cpu")

    def remove_fault(self, handle: str) -> None:
        _refuse(self._owner, "remove_fault")

    def __getattr__(self, attribute: str) -> Any:
        # A provider's own methods (a local target's add_latency, ...): refused unless known
        # to only read.
        return _attribute(self._target, attribute, self._owner, reads=TARGET_READS)


class ReadOnlyEnvironment:
    def __init__(self, environment: Environment) -> None:
        self._environment = environment
        self.name = environment.name
        self._targets: dict[str, ReadOnlyTarget] = {}

    def target(self, name: str) -> ReadOnlyTarget:
        if name not in self._targets:
            self._targets[name] = ReadOnlyTarget(self._environment.target(name))
        return self._targets[name]

    def close(self) -> None:
        self._environment.close()

    def __getattr__(self, attribute: str) -> Any:
        return _attribute(
            self._environment, attribute, f"environment {self.name!r}", reads=ENVIRONMENT_READS
        )


class ReadOnlyView:
    """Every other object reached from the environment in a dry run: its attributes read-only
    in turn (``read_only``), every one of its methods refused."""

    def __init__(self, wrapped: object, owner: str) -> None:
        self._wrapped = wrapped
        self._owner = owner

    def __repr__(self) -> str:
        return f"<read-only {self._owner} (dry run)>"

    # Any, like the environment's own view: a body reads whatever the provider holds.
    def __getattr__(self, attribute: str) -> Any:
        return _attribute(self._wrapped, attribute, self._owner, reads=frozenset())


def _attribute(wrapped: object, attribute: str, owner: str, *, reads: frozenset[str]) -> object:
    """``wrapped.attribute`` as a dry run's body may have it: a method in ``reads`` as it is,
    any other refused when called, a private attribute refused, any other value read-only."""
    if attribute.startswith("__"):
        # Python's own protocol lookups (copy, pickle, inspect): absent, as on any object
        # that does not define them, so that hasattr() stays an answer and not an error.
        raise AttributeError(attribute)
    if attribute.startswith("_"):
        _refuse(owner, attribute)
    value = getattr(wrapped, attribute)
    if callable(value):
        return value if attribute in reads else _refusing(owner, attribute)
    return read_only(value, f"{owner}.{attribute}")


_PLAIN: Final = (str, bytes, int, float, complex, bool, type(None), Enum)


def read_only(value: object, owner: str) -> object:
    """``value`` (reached as ``owner``) as a dry run's body may have it, unable to change
    anything: plain values as they are, containers copied read-only, anything else viewed."""
    if isinstance(value, ReadOnlyView | ReadOnlyTarget | ReadOnlyEnvironment):
        return value
    # A mapping is checked first: plain or not, it may be the environment's own state.
    if isinstance(value, Mapping):
        return MappingProxyType({key: read_only(item, owner) for key, item in value.items()})
    if isinstance(value, tuple | list):
        return value if _is_plain(value) else tuple(read_only(item, owner) for item in value)
    if isinstance(value, set | frozenset):
        return frozenset(read_only(item, owner) for item in value)
    if _is_plain(value):
        return value
    # Another way to the environment (an AWS target's ``env``, a provider's list of its
    # targets): the same view as chaos_env's own, whose reads go through.
    if _is_environment(value):
        return ReadOnlyEnvironment(value)
    if _is_target(value):
        return ReadOnlyTarget(value)
    return ReadOnlyView(value, owner)


def _is_environment(value: object) -> TypeGuard[Environment]:
    return _has_methods(value, "target", "close")


def _is_target(value: object) -> TypeGuard[Target]:
    return _has_methods(value, "instances", "terminate", "remove_fault")


def _has_methods(value: object, *names: str) -> bool:
    """A named object whose class has these methods (looked up on the class: reading the
    object's own attributes could run a property)."""
    return isinstance(getattr(value, "name", None), str) and all(
        callable(getattr(type(value), name, None)) for name in names
    )


def _is_plain(value: object) -> bool:
    """Immutable through and through: plain values, tuples and frozensets of them, and frozen
    dataclasses of them (an ``Instance``, its tags a mapping of text)."""
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, tuple | frozenset):
        return all(_is_plain(item) for item in value)
    if isinstance(value, Mapping):
        # Only inside a frozen dataclass: a snapshot's tags, not state of the environment.
        return all(_is_plain(key) and _is_plain(item) for key, item in value.items())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # @dataclass(frozen=True) says so in the parameters it sets on the class.
        frozen = getattr(getattr(type(value), "__dataclass_params__", None), "frozen", False)
        return frozen is True and all(
            _is_plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        )
    return False
