"""Where AWS's public FIS template library is: beside the repository (``../shared/
fis-templates``) or where ``CHAOSKIT_FIS_TEMPLATE_DIR`` says. It is test data kept outside
the repository, so the tests that walk it run where it is present."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def library() -> Path | None:
    configured = os.environ.get("CHAOSKIT_FIS_TEMPLATE_DIR")
    folder = Path(configured) if configured else ROOT.parent / "shared" / "fis-templates"
    return folder if folder.is_dir() else None
