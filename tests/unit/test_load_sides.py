"""The load's two sides stay apart: the pytest side (``chaoskit.load`` and its modules outside
``_locust``) never imports the locust side (``chaoskit.load._locust``), whose process modules
gevent-patch whatever process imports them."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import chaoskit.load

LOCUST_SIDE = "chaoskit.load._locust"


def pytest_side_modules() -> list[str]:
    """``chaoskit.load`` and every module of it outside ``_locust``, as found on disk: a
    module added later is checked too."""
    names = ["chaoskit.load"]
    for module in pkgutil.walk_packages(chaoskit.load.__path__, "chaoskit.load."):
        if module.name != LOCUST_SIDE and not module.name.startswith(LOCUST_SIDE + "."):
            names.append(module.name)
    return sorted(names)


def imported_after(modules: list[str]) -> list[str]:
    """The modules of the locust side, of locust and of gevent in ``sys.modules`` of a fresh
    interpreter that imported ``modules``."""
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(\n"
        f"    m for m in sys.modules if (m + '.').startswith({LOCUST_SIDE!r} + '.')\n"
        "    or m.split('.')[0] in ('locust', 'gevent')\n"
        ")))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    found: list[str] = json.loads(result.stdout)
    return found


def test_the_pytest_side_is_found() -> None:
    modules = pytest_side_modules()
    assert {"chaoskit.load", "chaoskit.load.driver", "chaoskit.load._wire"} <= set(modules)


def test_importing_the_pytest_side_never_imports_the_locust_side() -> None:
    assert imported_after(pytest_side_modules()) == []


def test_the_check_sees_the_locust_side_when_it_is_imported() -> None:
    # The check itself works: importing a locust-side module is seen (the recorder is pure,
    # so this does not gevent-patch the child either).
    found = imported_after(["chaoskit.load._locust.recorder"])
    assert {LOCUST_SIDE, f"{LOCUST_SIDE}.recorder"} <= set(found)
    assert not [name for name in found if name.split(".")[0] in ("locust", "gevent")]
