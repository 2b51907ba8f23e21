"""Datasets: real public data and synthetic generators with known ground truth.

Real data comes from a local copy, a cache, or its public source;
synthetic generators let methods be checked against what they planted.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "load_compas": "evenhand.datasets._compas",
    "propublica_filter": "evenhand.datasets._compas",
    "make_cardiac_cohort": "evenhand.datasets._cardiac",
    "make_services_population": "evenhand.datasets._services",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'evenhand.datasets' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
