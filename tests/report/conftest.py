from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def run_dir(tmp_path: Path) -> Callable[[str], Path]:
    """Copy a committed fixture run directory into tmp_path (reports are written there)."""

    def copy(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(FIXTURES / name, dst, ignore=shutil.ignore_patterns(
            "report.html", "junit.xml", "index.html"))
        return dst

    return copy
