"""The local environment's Prometheus: what it is told to scrape, and its refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chaoskit.errors import ConfigError, ProviderError
from chaoskit.providers.local import LocalEnvironment, binaries
from chaoskit.providers.local.startup import parse_config
from chaoskit.providers.local.system.prometheus_server import (
    PrometheusServer,
    ScrapeTarget,
    remove_stale_dirs,
    scrape_config,
    target_groups,
)


def test_a_missing_binary_is_refused_before_anything_starts(monkeypatch):
    monkeypatch.setattr(binaries.shutil, "which", lambda name: None)
    monkeypatch.setattr(subprocess, "Popen", None)  # starting anything would crash

    with pytest.raises(ProviderError, match=r"no 'prometheus' on PATH.*apt-get install prometheus"):
        LocalEnvironment.start(prometheus=True)


def test_the_prometheus_argument_must_be_a_bool():
    with pytest.raises(ConfigError, match="prometheus='yes' must be True or False"):
        LocalEnvironment.start(prometheus="yes")  # type: ignore[arg-type]


def test_the_system_config_takes_prometheus():
    assert parse_config({"targets": {"web": {}}, "prometheus": True}).prometheus is True
    assert parse_config({"targets": {"web": {}}}).prometheus is False
    with pytest.raises(ConfigError, match="prometheus=1 must be true or false"):
        parse_config({"targets": {"web": {}}, "prometheus": 1})


def test_each_replica_is_a_target_labelled_with_its_instance_id_and_target():
    groups = target_groups(
        [
            ScrapeTarget(address="127.0.0.1:2", instance_id="i-b", target="web"),
            ScrapeTarget(address="127.0.0.1:1", instance_id="i-a", target="web"),
        ]
    )
    assert groups == [
        {"targets": ["127.0.0.1:1"], "labels": {"instance": "i-a", "target": "web"}},
        {"targets": ["127.0.0.1:2"], "labels": {"instance": "i-b", "target": "web"}},
    ]


def test_the_config_scrapes_the_targets_file_every_second(tmp_path):
    config = scrape_config(tmp_path / "targets.json")
    assert config["global"] == {
        "scrape_interval": "1s",
        "scrape_timeout": "1s",
        "evaluation_interval": "1s",
    }
    [job] = config["scrape_configs"]  # type: ignore[misc]
    assert job["file_sd_configs"] == [{"files": [str(tmp_path / "targets.json")]}]


def test_the_targets_file_is_replaced_whole(tmp_path, monkeypatch):
    server = PrometheusServer(host="127.0.0.1")
    monkeypatch.setattr(server, "_dir", tmp_path)
    replaced: list[tuple[str, str]] = []
    real_replace = Path.replace

    def spy(self: Path, target: Path) -> Path:
        replaced.append((self.name, Path(target).name))
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", spy)
    first = [ScrapeTarget(address="127.0.0.1:1", instance_id="i-a", target="web")]

    server.update_targets(first)
    server.update_targets(first)  # unchanged: not rewritten

    assert replaced == [("targets.json.partial", "targets.json")]
    assert json.loads((tmp_path / "targets.json").read_text()) == target_groups(first)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["targets.json"]


def test_stale_folders_of_dead_systems_are_removed(tmp_path):
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = tmp_path / f"chaoskit-prometheus-{finished.stdout.strip()}-abc"
    alive = tmp_path / f"chaoskit-prometheus-{os.getpid()}-def"
    other = tmp_path / "chaoskit-prometheus-notapid"
    for folder in (dead, alive, other):
        (folder / "data").mkdir(parents=True)

    remove_stale_dirs(tmp_path)

    assert not dead.exists()
    assert alive.exists() and other.exists()
