"""evenhand: fairness for AI systems, with numbers you can defend.

The public API is exactly ``__all__``; everything else lives in private modules.
Heavy modules are imported on first use so ``import evenhand`` and the CLI stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from evenhand._core._errors import EvenhandError

__version__ = "0.1.0"

# public name -> private module defining it
_LAZY = {
    "audit": "evenhand._audit",
    "Audit": "evenhand._audit",
    "data_bias": "evenhand._data_bias",
    "find_slices": "evenhand._slices",
    "decompose": "evenhand._decompose",
    "Decomposition": "evenhand._decompose",
    "allocate": "evenhand._allocate",
    "Allocation": "evenhand._allocate",
}
_SUBPACKAGES = ("bounds", "compliance", "datasets", "explain", "mitigate", "trace")

__all__ = ["EvenhandError", "__version__", *_LAZY, *_SUBPACKAGES]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"evenhand.{name}")
    else:
        raise AttributeError(f"module 'evenhand' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
