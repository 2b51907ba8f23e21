"""The one exception type of evenhand."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["EvenhandError", "did_you_mean"]


class EvenhandError(ValueError):
    """Raised for any input evenhand cannot use; the message names the problem and the fix.

    It subclasses :class:`ValueError`, so code that already catches ``ValueError``
    keeps working.
    """


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return a hint naming the candidates closest to ``name`` (empty if none is close)."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=3, cutoff=0.5)
    return f" Did you mean one of these: {close}?" if close else ""
