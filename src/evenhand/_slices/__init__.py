"""``evenhand.find_slices``: automatic discovery of the subgroups where a model errs most."""

from evenhand._slices._slices import find_slices

__all__ = ["find_slices"]
