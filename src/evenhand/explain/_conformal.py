"""Group-conditional (Mondrian) split conformal prediction.

Split conformal prediction turns any fitted model into one that outputs *sets* of labels
(classification) or *intervals* (regression) with a finite-sample coverage guarantee,
using a held-out calibration sample. Calibrating separately inside each sensitive group
(a Mondrian taxonomy, Vovk 2003) makes the guarantee hold **for every group**, not only on
average over the population (Romano, Barber, Sabatti & Candès 2020): a group the model
finds hard gets wider sets instead of silently lower coverage.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from evenhand._errors import EvenhandError

__all__ = ["GroupConformal", "encode_groups"]

Task = Literal["classification", "regression"]


def encode_groups(
    groups: np.ndarray, known: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(labels, codes)`` for ``groups``; with ``known`` labels, map onto those.

    Raises :class:`EvenhandError` naming the values absent from ``known``: a group
    never seen at calibration has no calibrated quantile, so no guarantee can be given.
    """
    values = np.asarray(groups).astype(str)
    if known is None:
        labels, codes = np.unique(values, return_inverse=True)
        return labels, codes.astype(np.intp)
    pos = np.searchsorted(known, values)
    pos = np.clip(pos, 0, max(len(known) - 1, 0))
    found = known[pos] == values if len(known) else np.zeros(len(values), bool)
    if not found.all():
        unseen = sorted(set(values[~found].tolist()))
        raise EvenhandError(
            f"Group(s) {unseen[:5]!r} were not seen in the calibration data, so no "
            f"group-conditional guarantee can be given for them (calibrated groups: "
            f"{known[:10].tolist()!r}). Add rows from these groups to calibration_data."
        )
    return known, pos.astype(np.intp)


def _group_quantiles(
    scores: np.ndarray, codes: np.ndarray, n_groups: int, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group conformal quantile ``s_(k)`` with ``k = ceil((1 - alpha)(n_g + 1))``.

    Returns ``(quantiles, counts)``; where ``k > n_g`` the quantile is ``+inf`` (the
    group is too small for a non-trivial set at this ``alpha``). One sort, no loop.
    """
    counts = np.bincount(codes, minlength=n_groups)
    order = np.lexsort((scores, codes))
    sorted_scores = scores[order]
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    k = np.ceil((1.0 - alpha) * (counts + 1) - 1e-12).astype(np.int64)
    ok = (k <= counts) & (counts > 0)
    idx = np.where(ok, starts + k - 1, 0)
    quantiles = np.where(ok, sorted_scores[idx] if len(sorted_scores) else np.inf, np.inf)
    return quantiles.astype(float), counts


class GroupConformal:
    """Split conformal predictor calibrated separately within each group.

    Classification uses the score ``s = 1 - p̂(y | x)`` (the probability the model gives
    the true label); the prediction set of ``x`` in group ``g`` is
    ``{k : 1 - p̂(k | x) <= q_g}``. Regression uses ``s = |y - ŷ(x)|`` and the interval
    ``ŷ(x) ± q_g``. ``q_g`` is the ``k_g = ceil((1 - alpha)(n_g + 1))``-th smallest score
    among the ``n_g`` calibration rows of group ``g``.

    Guarantee: if calibration and test rows of group ``g`` are exchangeable,
    ``P(Y in C(X) | G = g) >= 1 - alpha`` for every group, and (without ties in the
    scores) ``<= 1 - alpha + 1 / (n_g + 1)``. When ``k_g > n_g`` (fewer than
    ``(1 - alpha) / alpha`` calibration rows) ``q_g = +inf``: the set holds every label
    (an infinite interval), which keeps the guarantee honestly.

    Parameters
    ----------
    alpha : float, default 0.1
        Miscoverage level in (0, 1); the guaranteed coverage is ``1 - alpha``.
    task : {"classification", "regression"}, default "classification"
        What ``predictions`` hold in :meth:`fit` and :meth:`predict`.

    Attributes
    ----------
    groups_ : ndarray of str
        The calibrated groups, sorted.
    quantiles_ : ndarray of float
        ``q_g`` per group.
    counts_ : ndarray of int
        Calibration rows per group, ``n_g``.

    Examples
    --------
    >>> import numpy as np
    >>> from evenhand.explain import GroupConformal
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(size=400)
    >>> proba = np.column_stack([1 - p1, p1])
    >>> y = (rng.uniform(size=400) < p1).astype(int)
    >>> g = np.where(rng.uniform(size=400) < 0.5, "a", "b")
    >>> cp = GroupConformal(alpha=0.1).fit(proba, y, g)
    >>> cp.predict(proba[:3], g[:3]).shape
    (3, 2)
    """

    def __init__(self, alpha: float = 0.1, task: Task = "classification") -> None:
        self.alpha = alpha
        self.task = task

    def _check_params(self) -> None:
        if not (isinstance(self.alpha, int | float) and 0.0 < float(self.alpha) < 1.0):
            raise EvenhandError(
                f"The 'alpha' parameter of GroupConformal must be a number in (0, 1); "
                f"got {self.alpha!r}. Use e.g. alpha=0.1 for 90% coverage."
            )
        if self.task not in ("classification", "regression"):
            raise EvenhandError(
                f"The 'task' parameter of GroupConformal must be one of "
                f"['classification', 'regression']; got {self.task!r}."
            )

    def nonconformity(self, predictions: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Score of each (prediction, label) pair: ``1 - p̂(y)`` or ``|y - ŷ|``.

        For classification ``y`` holds integer class indices into the columns of
        ``predictions``.
        """
        predictions = np.asarray(predictions, dtype=float)
        if self.task == "classification":
            y = np.asarray(y, dtype=np.intp)
            return 1.0 - predictions[np.arange(len(y)), y]
        return np.abs(np.asarray(y, dtype=float) - predictions)

    def fit(self, predictions: np.ndarray, y: np.ndarray, groups: np.ndarray) -> GroupConformal:
        """Calibrate on held-out rows (not the rows the model was trained on).

        Parameters
        ----------
        predictions : array of shape (n, n_classes) or (n,)
            Class probabilities (classification) or point predictions (regression).
        y : array of shape (n,)
            Class indices (classification) or outcomes (regression).
        groups : array of shape (n,)
            Group label of each row (converted to ``str``).

        Returns
        -------
        GroupConformal
            ``self``, fitted.
        """
        self._check_params()
        scores = self.nonconformity(predictions, y)
        if len(scores) != len(groups):
            raise EvenhandError(
                f"groups has {len(groups)} entries but there are {len(scores)} predictions; "
                "pass one group label per calibration row."
            )
        self.groups_, codes = encode_groups(groups)
        self.quantiles_, self.counts_ = _group_quantiles(
            scores, codes, len(self.groups_), float(self.alpha)
        )
        return self

    def group_codes(self, groups: np.ndarray) -> np.ndarray:
        """Index of each row's group in ``groups_``; unseen groups raise."""
        if not hasattr(self, "quantiles_"):
            raise EvenhandError("This GroupConformal is not fitted yet; call fit() first.")
        return encode_groups(groups, self.groups_)[1]

    def predict(
        self, predictions: np.ndarray, groups: np.ndarray
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Prediction sets (bool array, one column per class) or ``(lower, upper)``.

        Vectorised: one gather of the group quantile per row and one comparison.
        """
        codes = self.group_codes(groups)
        q = self.quantiles_[codes]
        predictions = np.asarray(predictions, dtype=float)
        if self.task == "classification":
            return (1.0 - predictions) <= q[:, None]
        return predictions - q, predictions + q

    def guarantee(self, group: str) -> str:
        """Plain statement of the coverage guarantee for one calibrated group."""
        code = int(self.group_codes(np.array([group]))[0])
        n = int(self.counts_[code])
        level = 1.0 - float(self.alpha)
        what = "set contains" if self.task == "classification" else "interval contains"
        text = (
            f"For people in group {group!r}, the {what} the true outcome with probability "
            f"at least {level:.0%} (split conformal prediction calibrated on {n} people "
            "of this group; valid if they and this person are exchangeable)."
        )
        if not math.isfinite(self.quantiles_[code]):
            text += (
                f" The group has too few calibration rows for a smaller set at this level "
                f"(needs at least {math.ceil(level / float(self.alpha) - 1e-9)}), so every outcome "
                "is included."
            )
        return text
