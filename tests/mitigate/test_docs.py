"""Every docstring example in evenhand.mitigate runs and prints what it shows."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "_expgrad", "_grid_search", "_moments", "_pre", "_reject_option", "_threshold", "_tradeoff",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"evenhand.mitigate.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
