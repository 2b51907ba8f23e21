"""``evenhand.allocate``: equitable allocation of scarce resources, with the price of each rule."""

from evenhand._allocate._allocate import Allocation, allocate

__all__ = ["Allocation", "allocate"]
