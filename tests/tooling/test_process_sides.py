"""What importing the pytest side really loads: no process side, no locust, gevent or boto3.

import-linter (``tests/tooling/test_architecture.py``) checks the imports the source names;
this imports every pytest-side module in a fresh interpreter and looks at ``sys.modules``,
so that package ``__init__`` modules, names resolved on first use and whatever the contracts
cannot see are covered too. The process sides are ``chaoskit.load._locust`` (the locust
processes) and ``chaoskit.providers.local.system`` (the local system); every other module of
chaoskit is the pytest side, found on disk so that a module added later is checked too.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

import chaoskit

PROCESS_SIDES = ("chaoskit.load._locust", "chaoskit.providers.local.system")
# locust and gevent monkey-patch the process that imports them; boto3 is imported only when an
# AWS environment opens. Load workers import ``chaoskit.load`` before locust patches them, and
# urllib3 and requests, like boto3, must come after the patch; nothing of the pytest side
# needs them.
FORBIDDEN = (*PROCESS_SIDES, "locust", "gevent", "boto3", "urllib3", "requests")
# The AWS provider's modules import boto3: only an AWS environment opening imports them. Its
# package itself is checked like the rest (importing it must not load boto3).
AWS_PROVIDER = "chaoskit.providers.aws"
PYTEST_SIDE_OF_LOCAL = (
    "chaoskit.providers.local.environment",
    "chaoskit.providers.local.target",
    "chaoskit.providers.local.client",
)

# Run in a fresh interpreter: argv[1] is a JSON list of the packages watched for, the rest the
# modules to import, in order. Prints, per module, the watched modules its import loaded.
PROBE = """
import importlib, json, sys

watched = json.loads(sys.argv[1])

def loaded():
    return {m for m in sys.modules if any(m == w or m.startswith(w + ".") for w in watched)}

seen = set()
pulled = {}
for name in sys.argv[2:]:
    importlib.import_module(name)
    now = loaded()
    pulled[name] = sorted(now - seen)
    seen = now
print(json.dumps(pulled))
"""


def within(module: str, packages: Sequence[str]) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def pytest_side_modules() -> list[str]:
    """chaoskit and its modules outside the process sides, read from the source tree.

    ``pkgutil.walk_packages`` would import each package to find its children, the process
    sides' packages included: the walk descends by path and imports nothing.
    """
    found = ["chaoskit"]

    def walk(directory: Path, package: str) -> None:
        for module in pkgutil.iter_modules([str(directory)], f"{package}."):
            # A ``__main__`` runs a command when imported; none is on the pytest side.
            if within(module.name, PROCESS_SIDES) or module.name.endswith(".__main__"):
                continue
            if module.name.startswith(AWS_PROVIDER + "."):
                continue
            found.append(module.name)
            if module.ispkg:
                walk(directory / module.name.rpartition(".")[2], module.name)

    walk(Path(chaoskit.__file__).parent, "chaoskit")
    return sorted(found)


def imports_pulled(modules: Sequence[str], watched: Sequence[str]) -> dict[str, list[str]]:
    """Per module, imported in this order by one fresh interpreter, the modules of
    ``watched`` that its import loaded first."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(list(watched)), *modules],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    pulled: dict[str, list[str]] = json.loads(done.stdout)
    return pulled


PYTEST_SIDE = pytest_side_modules()


@pytest.fixture(scope="module")
def pulled_by_the_pytest_side() -> dict[str, list[str]]:
    return imports_pulled(PYTEST_SIDE, FORBIDDEN)


@pytest.mark.parametrize("module", PYTEST_SIDE)
def test_importing_a_pytest_side_module_loads_no_process_side(
    module: str, pulled_by_the_pytest_side: dict[str, list[str]]
) -> None:
    pulled = pulled_by_the_pytest_side[module]
    assert pulled == [], f"importing {module} loaded {pulled}"


def test_the_pytest_side_is_found_on_disk_without_the_process_sides() -> None:
    assert {
        "chaoskit",
        "chaoskit.plugin",
        "chaoskit.load",
        "chaoskit.load.driver",
        "chaoskit.load._wire",
        "chaoskit.providers.local",
        *PYTEST_SIDE_OF_LOCAL,
        "chaoskit.providers.local.control_protocol._wire",
        AWS_PROVIDER,
        "chaoskit.config.aws",
    } <= set(PYTEST_SIDE)
    assert [module for module in PYTEST_SIDE if within(module, PROCESS_SIDES)] == []


def test_the_check_sees_a_process_side_that_is_imported() -> None:
    # The recorder imports neither locust nor gevent: the interpreter stays unpatched.
    pulled = imports_pulled(["chaoskit.load", "chaoskit.load._locust.recorder"], FORBIDDEN)
    assert pulled["chaoskit.load"] == []
    assert {"chaoskit.load._locust", "chaoskit.load._locust.recorder"} <= set(
        pulled["chaoskit.load._locust.recorder"]
    )


def test_boto3_is_loaded_by_the_aws_providers_modules_not_by_its_package() -> None:
    environment = f"{AWS_PROVIDER}.environment"
    pulled = imports_pulled([AWS_PROVIDER, environment], ["boto3", "botocore"])
    assert pulled[AWS_PROVIDER] == []
    assert {"boto3", "botocore"} <= {name.split(".")[0] for name in pulled[environment]}


def test_a_local_replica_loads_nothing_of_the_pytest_side() -> None:
    # A replica imports chaoskit.providers.local on its way to system/; the package resolves
    # its names on first use so that the replica does not load the pytest side with it.
    shop = "chaoskit.providers.local.system.shop"
    pulled = imports_pulled([shop], PYTEST_SIDE_OF_LOCAL)[shop]
    assert pulled == [], f"importing {shop} loaded {pulled}"
