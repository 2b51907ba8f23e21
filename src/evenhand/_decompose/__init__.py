"""``evenhand.decompose``: a gap between two groups split into factor-group contributions."""

from evenhand._decompose._decompose import Decomposition, decompose

__all__ = ["Decomposition", "decompose"]
