"""Datasets: real public data (loaded from a local copy or cache) and synthetic generators.

Synthetic generators have known ground truth so that methods can be checked against it.
"""

from __future__ import annotations

__all__: list[str] = []
