"""Every benchmark script still runs end to end in its ``--quick`` smoke mode.

Benchmarks are scripts, not timed tests: nothing here asserts a speed, only that each script
runs against the current API and prints its figures.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*_speed.py"))


def test_every_benchmark_is_listed():
    assert len(SCRIPTS) >= 8


@pytest.mark.slow
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_runs_in_quick_mode(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True,
                          text=True, timeout=900, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"\d+\.\d+", done.stdout), done.stdout[-2000:]
