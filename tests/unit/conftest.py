"""Shared by the unit tests: the tracked YAML files, for the tests that scan every one of them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tracked_yaml_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.yml", "*.yaml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that takes `yaml_path` runs once for each YAML file git tracks."""
    if "yaml_path" in metafunc.fixturenames:
        files = tracked_yaml_files()
        metafunc.parametrize("yaml_path", files, ids=[str(p.relative_to(ROOT)) for p in files])
