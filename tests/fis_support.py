"""An environment that offers only the FIS capability, over a real ``FisService``: what the
AWS environment will delegate to, without its accounts, targets or EC2."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaoskit.errors import ConfigError
from chaoskit.providers.aws.fis_runner import FisExperimentRun, FisService
from chaoskit.typing import Target

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/chaoskit-fis"


@dataclass(kw_only=True)
class FisOnlyEnvironment:
    name: str
    fis: FisService

    def target(self, name: str) -> Target:
        raise ConfigError(f"environment {self.name!r} has no targets, only FIS")

    def close(self) -> None:
        pass

    def fis_template(self, template_id: str) -> Mapping[str, Any]:
        return self.fis.fis_template(template_id)

    def run_fis(self, template: Mapping[str, Any], *, timeout: float) -> FisExperimentRun:
        return self.fis.run_fis(template, timeout=timeout)
