"""The audit engine every capability uses.

Frame adaptation and validation (:mod:`._frame`), the one aggregation pass (:mod:`._stats`),
the metrics registry (:mod:`._metrics`), per-level estimates (:mod:`._levels`), disparities and
named definitions (:mod:`._disparity`), analytic intervals (:mod:`._uncertainty`), the count-table
bootstrap (:mod:`._bootstrap`), the JSON writer (:mod:`._json`) and the one exception type
(:mod:`._errors`). Nothing here is public; capabilities import the modules directly.
"""
