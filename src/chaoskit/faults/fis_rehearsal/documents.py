"""The AWSFIS SSM documents a rehearsal runs, read from ``aws:ssm:send-command``'s
parameters as FIS hands them to SSM: ``documentArn`` names the document, and
``documentParameters`` is a JSON *string* of the document's parameters, each a string
(``{"DelayMilliseconds": "200", "DurationSeconds": "60"}``), defaults applied as the
documents declare them.

Locally the fault proxy in front of each instance stands in for the instance's network
interface, and CPU burners pinned beside it for stress-ng. What the proxy cannot tell apart is
said in the effect's ``note`` (a latency limited to some ``Sources`` applies to every
response of the instance; a blackholed port is the instance's own port).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaoskit.errors import ConfigError
from chaoskit.faults.fis_documents import (
    BLACKHOLE_PORT,
    CPU_STRESS,
    KILL_PROCESS,
    LATENCY,
    LATENCY_SOURCES,
    document_name,
    unknown_parameter_problems,
)
from chaoskit.vocabulary import MAX_CPU_STRESS_WORKERS, NetworkFault

DOCUMENTS = (LATENCY, LATENCY_SOURCES, BLACKHOLE_PORT, CPU_STRESS, KILL_PROCESS)


@dataclass(frozen=True, kw_only=True)
class DocumentEffect:
    """What a document does to each instance it runs on, and for how long (seconds of the
    template; None: at once, as killing a process is)."""

    kind: str  # "network", "cpu" or "kill"
    lasts: float | None
    network: NetworkFault | None = None
    workers: int = 1
    shown: str = ""  # the effect in words: "latency 200ms ±10ms"
    note: str = ""  # where the local stand-in differs from the document on an instance


def read_document(
    parameters: Mapping[str, str], *, where: str
) -> tuple[str, DocumentEffect | None]:
    """The document an ``aws:ssm:send-command`` action runs, and its effect; None when the
    document is not one a rehearsal can run. ConfigError naming ``where`` and the parameter
    when a supported document's parameters are wrong."""
    name = document_name(parameters.get("documentArn"))
    if name not in DOCUMENTS:
        return name, None
    given = _document_parameters(parameters.get("documentParameters"), where=where)
    unknown = unknown_parameter_problems(name, given, where=f"{where}.documentParameters")
    if unknown:
        raise ConfigError(" ".join(unknown))
    read = _Reader(given=given, where=f"{where}.documentParameters ({name})")
    if name == KILL_PROCESS:
        process = read.text("ProcessName", required=True)
        signal = read.text("Signal", default="SIGTERM")
        effect = DocumentEffect(
            kind="kill",
            lasts=None,
            shown=f"kill {process} ({signal})",
            note="the instance's process is killed; the fleet replaces it, as a service "
            "manager would restart it",
        )
        return name, effect
    seconds = read.number("DurationSeconds", required=True, least=1)
    if name == CPU_STRESS:
        cpus = int(read.number("CPU", default=0))
        load = read.number("LoadPercent", default=100, least=1, most=100)
        # Each local instance has one core to itself; burners share it with it, so a higher
        # load is more burners, from one at up to half a core to four at full load.
        workers = min(MAX_CPU_STRESS_WORKERS, max(1, math.ceil(4 * load / 100)))
        shown = f"CPU stress {load:g}% ({'all CPUs' if cpus == 0 else f'{cpus} CPU(s)'})"
        return name, DocumentEffect(
            kind="cpu",
            lasts=seconds,
            workers=workers,
            shown=shown,
            note=f"{workers} burner(s) share the instance's core with it",
        )
    if name == BLACKHOLE_PORT:
        protocol = read.text("Protocol", required=True).lower()
        port = read.text("Port", required=True)
        traffic = read.text("TrafficType", default="ingress").lower()
        if protocol not in ("tcp", "udp") or traffic not in ("ingress", "egress"):
            raise ConfigError(
                f"{read.where}: Protocol={protocol!r} and TrafficType={traffic!r} must be tcp "
                f"or udp, and ingress or egress, as the document takes them."
            )
        fault = NetworkFault(
            kind="blackhole", direction="upstream" if traffic == "ingress" else "downstream"
        )
        return name, DocumentEffect(
            kind="network",
            lasts=seconds,
            network=fault,
            shown=f"blackhole {protocol}/{port} {traffic}",
            note="the proxy drops the instance's own traffic, whatever the port",
        )
    delay = read.number("DelayMilliseconds", default=200) / 1000
    jitter = read.number("JitterMilliseconds", default=10) if name == LATENCY_SOURCES else 0.0
    flows = read.number("FlowsPercent", default=100, least=1, most=100)
    if jitter / 1000 > delay:
        raise ConfigError(
            f"{read.where}: JitterMilliseconds={jitter:g} exceeds DelayMilliseconds="
            f"{delay * 1000:g}; a rehearsal cannot make a delay negative, so keep the jitter "
            f"at most the delay."
        )
    fault = NetworkFault(kind="latency", delay=delay, jitter=jitter / 1000, toxicity=flows / 100)
    sources = read.text("Sources", required=name == LATENCY_SOURCES, default="")
    note = (
        f"Sources {sources}: the proxy cannot tell where traffic goes, so every response of "
        f"the instance is delayed"
        if sources
        else ""
    )
    shown = f"latency {delay * 1000:g}ms" + (f" ±{jitter:g}ms" if jitter else "")
    if flows < 100:
        shown += f" on {flows:g}% of connections"
    effect = DocumentEffect(kind="network", lasts=seconds, network=fault, shown=shown, note=note)
    return name, effect


def _document_parameters(raw: object, *, where: str) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    try:
        given = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{where}.documentParameters is not valid JSON ({error.msg} at character "
            f"{error.pos}); FIS passes it to SSM as a JSON object in a string, e.g. "
            f'"{{\\"DurationSeconds\\": \\"60\\"}}".'
        ) from error
    if not isinstance(given, Mapping):
        raise ConfigError(
            f"{where}.documentParameters must hold a JSON object of the document's "
            f"parameters, not {type(given).__name__}."
        )
    return dict(given)


@dataclass(frozen=True, kw_only=True)
class _Reader:
    given: Mapping[str, Any]
    where: str

    def text(self, name: str, *, required: bool = False, default: str = "") -> str:
        value = self.given.get(name)
        if value is None or value == "":
            if required:
                raise ConfigError(
                    f"{self.where}: {name} is required by the document; add it, e.g. "
                    f'"{name}": "...".'
                )
            return default
        return str(value)

    def number(
        self,
        name: str,
        *,
        required: bool = False,
        default: float = 0,
        least: float = 0,
        most: float = math.inf,
    ) -> float:
        text = self.text(name, required=required, default=repr(default))
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not least <= value <= most:  # NaN fails both comparisons
            bound = f"from {least:g} to {most:g}" if math.isfinite(most) else f">= {least:g}"
            raise ConfigError(
                f"{self.where}: {name}={text!r} must be a number {bound} (SSM passes it as a "
                f'string, e.g. "{name}": "{max(least, 1):g}").'
            )
        return value
