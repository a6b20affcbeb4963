"""What every process chaoskit starts (local system, load workers) inherits."""

from __future__ import annotations

import os
from pathlib import Path

import chaoskit


def child_environment() -> dict[str, str]:
    """This process's environment, with this very chaoskit first on the child's import path.

    chaoskit may be importable here only through sys.path changes (pytest's pythonpath
    setting, a conftest); the children must import the same package, not another install.
    """
    environment = dict(os.environ)
    package_root = str(Path(chaoskit.__file__).resolve().parent.parent)
    environment["PYTHONPATH"] = os.pathsep.join(
        path for path in (package_root, environment.get("PYTHONPATH", "")) if path
    )
    return environment
