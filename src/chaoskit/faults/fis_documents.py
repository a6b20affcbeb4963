"""The AWSFIS SSM documents that FIS's ``aws:ssm:send-command`` runs, and the parameters each
declares (AWS FIS user guide, "Use the AWS FIS aws:ssm:send-command action"). SSM refuses a
command with a parameter its document does not declare, so a template that passes one is
refused when it is checked, before anything is created or injected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

LATENCY = "AWSFIS-Run-Network-Latency"
LATENCY_SOURCES = "AWSFIS-Run-Network-Latency-Sources"
BLACKHOLE_PORT = "AWSFIS-Run-Network-Blackhole-Port"
CPU_STRESS = "AWSFIS-Run-CPU-Stress"
KILL_PROCESS = "AWSFIS-Run-Kill-Process"
DISK_FILL = "AWSFIS-Run-Disk-Fill"
IO_STRESS = "AWSFIS-Run-IO-Stress"
MEMORY_STRESS = "AWSFIS-Run-Memory-Stress"
PACKET_LOSS = "AWSFIS-Run-Network-Packet-Loss"

_INSTALL = "InstallDependencies"
ACCEPTED: Mapping[str, frozenset[str]] = {
    LATENCY: frozenset({"Interface", "DelayMilliseconds", "DurationSeconds", _INSTALL}),
    LATENCY_SOURCES: frozenset(
        {
            "Interface",
            "DelayMilliseconds",
            "JitterMilliseconds",
            "FlowsPercent",
            "Sources",
            "TrafficType",
            "DurationSeconds",
            _INSTALL,
        }
    ),
    BLACKHOLE_PORT: frozenset({"Protocol", "Port", "TrafficType", "DurationSeconds", _INSTALL}),
    CPU_STRESS: frozenset({"DurationSeconds", "CPU", "LoadPercent", _INSTALL}),
    KILL_PROCESS: frozenset({"ProcessName", "Signal", _INSTALL}),
    DISK_FILL: frozenset({"DurationSeconds", "Percent", _INSTALL}),
    IO_STRESS: frozenset({"DurationSeconds", "Workers", "Percent", _INSTALL}),
    MEMORY_STRESS: frozenset({"DurationSeconds", "Workers", "Percent", _INSTALL}),
    PACKET_LOSS: frozenset({"Interface", "LossPercent", "DurationSeconds", _INSTALL}),
}


def document_name(arn: object) -> str:
    """``arn:aws:ssm:eu-west-1::document/AWSFIS-Run-CPU-Stress`` -> ``AWSFIS-Run-CPU-Stress``."""
    text = str(arn or "")
    return text.rpartition("document/")[2] if "document/" in text else text


def unknown_parameter_problems(name: str, given: Mapping[str, Any], *, where: str) -> list[str]:
    """A problem per parameter of ``given`` that document ``name`` does not declare, naming
    ``where``, the document, the parameter and what it takes; [] for documents not known."""
    accepted = ACCEPTED.get(name)
    if accepted is None:
        return []
    problems = []
    for parameter in sorted(set(given) - accepted):
        elsewhere = sorted(
            other for other, takes in ACCEPTED.items() if other != name and parameter in takes
        )
        hint = f" ({', '.join(elsewhere)} takes it)" if elsewhere else ""
        problems.append(
            f"{where}: {name} does not take {parameter}; it takes "
            f"{', '.join(sorted(accepted))}. Remove {parameter}, or use a document that "
            f"declares it{hint}."
        )
    return problems


def send_command_problems(action_name: str, parameters: Mapping[str, Any]) -> list[str]:
    """What is wrong with the document parameters of an ``aws:ssm:send-command`` action
    (unparsable JSON is left to the reader that needs the values)."""
    raw = parameters.get("documentParameters")
    try:
        given = json.loads(raw) if isinstance(raw, str) and raw else {}
    except json.JSONDecodeError:
        return []
    if not isinstance(given, Mapping):
        return []
    return unknown_parameter_problems(
        document_name(parameters.get("documentArn")),
        given,
        where=f"actions.{action_name}.parameters.documentParameters",
    )
