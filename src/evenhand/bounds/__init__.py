"""Fairness you can bound: trusted input ranges, decisions that could flip, flip tests.

Inputs are often uncertain — a prior count may be off by one, an age recorded late.
:func:`certify` takes a range for each uncertain input and returns, per row, the lowest and
highest score the model can give inside that range, which decisions could flip, and per
group the exact interval of each fairness metric over every decision the unstable rows
can take. :func:`flip_test` changes the sensitive attribute (and optionally its proxies)
and counts the decisions that change.

Examples
--------
COMPAS (ProPublica's two-year recidivism file, all 7,214 rows): models on the public
criminal-history features, with ``priors_count`` trusted to ±1 (but never below 0) and
``age`` to ±1 year. How many decisions (``score >= 0.5``) could flip, and how far could the
false-positive-rate gap between African-American and Caucasian defendants move?

>>> import polars as pl
>>> from sklearn.ensemble import GradientBoostingClassifier
>>> from sklearn.linear_model import LogisticRegression
>>> from evenhand.bounds import certify
>>> from evenhand.datasets import load_compas
>>> features = ["age", "priors_count", "juv_fel_count", "juv_misd_count", "juv_other_count"]
>>> df = load_compas().select(*features, "race", "two_year_recid")
>>> X, y = df.select(features).to_pandas(), df["two_year_recid"].to_numpy()
>>> ranges = {"priors_count": {"delta": 1, "min": 0}, "age": 1}
>>> logistic = LogisticRegression(max_iter=1000).fit(X, y)
>>> cert = certify(logistic, df, ranges=ranges, sensitive="race",
...                y_true="two_year_recid", reference="Caucasian")
>>> cert.method, cert.n_flippable, cert.n_unresolved
('linear (exact)', 1664, 0)
>>> low, high = cert.disparity("fpr", "African-American")
>>> print(f"FPR difference, African-American - Caucasian: [{low:.4f}, {high:.4f}]")
FPR difference, African-American - Caucasian: [-0.0621, 0.3465]

A gradient-boosted model: per-tree bounds give a sound outer bound; here every cell of
every row's box is also scored, so the bounds are exact (``cert.rows["exact"]``).

>>> boosted = GradientBoostingClassifier(random_state=0).fit(X, y)
>>> cert = certify(boosted, df, ranges=ranges, sensitive="race",
...                y_true="two_year_recid", reference="Caucasian")
>>> cert.n_flippable, cert.n_unresolved, bool(cert.rows["exact"].all())
(2070, 0, True)
>>> low, high = cert.disparity("fpr", "African-American")
>>> print(f"FPR difference, African-American - Caucasian: [{low:.4f}, {high:.4f}]")
FPR difference, African-American - Caucasian: [-0.1127, 0.4438]
"""

from __future__ import annotations

from evenhand.bounds._certificate import Certificate
from evenhand.bounds._certify import certify
from evenhand.bounds._flip import flip_test

__all__ = ["Certificate", "certify", "flip_test"]
