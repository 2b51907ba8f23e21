"""``evenhand.data_bias``: pre-training (data) bias metrics, no model needed."""

from evenhand._data_bias._data_bias import data_bias

__all__ = ["data_bias"]
