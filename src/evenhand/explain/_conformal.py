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

from evenhand._core._errors import EvenhandError

__all__ = ["GroupConformal", "encode_groups"]

Task = Literal["classification", "regression"]


_FEW_GROUPS = 64  # up to this many groups, matching labels beats sorting a million strings


def _string_keys(values: np.ndarray) -> np.ndarray:
    """64-bit FNV-1a-style hash of each fixed-width string: equal strings, equal keys.

    Integer keys compare ten times faster than strings; callers verify the result
    against the strings once, so a collision can cost time but never a wrong group.
    """
    width = values.dtype.itemsize // 4
    chars = values.view(np.uint32).reshape(len(values), width)
    key = np.full(len(values), 0xCBF29CE484222325, dtype=np.uint64)
    for j in range(width):
        key = (key ^ chars[:, j]) * np.uint64(0x100000001B3)  # wraps modulo 2**64
    return key


def _peel(
    keys: np.ndarray, label_keys: np.ndarray | None
) -> tuple[np.ndarray, list[int], np.ndarray] | None:
    """Assign codes by matching one label at a time against the rows not yet matched.

    With ``label_keys=None`` labels are discovered in order of first appearance
    (``None`` is returned beyond ``_FEW_GROUPS``). Each pass compares only the remaining
    rows. Returns ``(codes, first row of each label, rows left unmatched)``.
    """
    codes = np.full(len(keys), -1, dtype=np.intp)
    index = np.arange(len(keys))
    rest = keys
    firsts: list[int] = []
    todo = list(label_keys) if label_keys is not None else None
    while len(rest):
        if todo is not None:
            if len(firsts) == len(todo):
                break
            label = todo[len(firsts)]
        elif len(firsts) == _FEW_GROUPS:
            return None
        else:
            label = rest[0]
        hit = rest == label
        codes[index[hit]] = len(firsts)
        firsts.append(int(index[hit][0]) if hit.any() else -1)
        index, rest = index[~hit], rest[~hit]
    return codes, firsts, index


def _discover(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each row's code (:func:`numpy.unique` if many)."""
    peeled = _peel(_string_keys(values), None)
    if peeled is not None:
        codes, firsts, _ = peeled
        labels = values[np.asarray(firsts, dtype=np.intp)]
        if np.array_equal(values, labels[codes]):  # no hash collision
            order = np.argsort(labels, kind="stable")
            rank = np.empty(len(order), dtype=np.intp)
            rank[order] = np.arange(len(order))
            return labels[order], rank[codes]
    labels, codes = np.unique(values, return_inverse=True)
    return labels, codes.astype(np.intp).reshape(-1)


def _match_known(values: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes of ``values`` in ``known`` and the values that are not there."""
    if len(known) <= _FEW_GROUPS:
        peeled = _peel(_string_keys(values), _string_keys(known.astype(values.dtype)))
        assert peeled is not None  # only label discovery gives up (None); matching never does
        codes, _, left = peeled
        if len(left) or np.array_equal(values, known[codes]):
            return codes, values[left]
    codes = np.clip(np.searchsorted(known, values), 0, len(known) - 1)
    return codes, values[known[codes] != values]


def encode_groups(
    groups: np.ndarray, known: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(labels, codes)`` for ``groups``; with ``known`` labels, map onto those.

    Labels are the sorted distinct values (as ``str``). With few groups (the usual case)
    rows are matched by 64-bit keys of the strings, one label at a time against the rows
    still unmatched, then checked against the strings once; with many groups it falls
    back to sorting (:func:`numpy.unique`, :func:`numpy.searchsorted`).
    Raises :class:`EvenhandError` naming the values absent from ``known``: a group
    never seen at calibration has no calibrated quantile, so no guarantee can be given.
    """
    values = np.ascontiguousarray(np.asarray(groups).astype(str))
    if known is None:
        return _discover(values)
    codes, unmatched = _match_known(values, known)
    if len(unmatched):
        unseen = sorted(set(unmatched.tolist()))
        raise EvenhandError(
            f"Group(s) {unseen[:5]!r} were not seen in the calibration data, so no "
            f"group-conditional guarantee can be given for them (calibrated groups: "
            f"{known[:10].tolist()!r}). Add rows from these groups to calibration_data."
        )
    return known, codes


def _group_quantiles(
    scores: np.ndarray, codes: np.ndarray, n_groups: int, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group conformal quantile ``s_(k)`` with ``k = ceil((1 - alpha)(n_g + 1))``.

    Returns ``(quantiles, counts)``; where ``k > n_g`` the quantile is ``+inf`` (the
    group is too small for a non-trivial set at this ``alpha``). Rows are grouped by one
    integer sort of the codes, then each group's order statistic is a linear-time
    :func:`numpy.partition`, not a full sort.
    """
    counts = np.bincount(codes, minlength=n_groups)
    k = np.ceil((1.0 - alpha) * (counts + 1) - 1e-12).astype(np.int64)
    grouped = scores[np.argsort(codes, kind="stable")]
    ends = np.cumsum(counts)
    quantiles = np.full(n_groups, np.inf)
    for g in np.flatnonzero((k <= counts) & (counts > 0)):
        part = grouped[ends[g] - counts[g] : ends[g]]
        quantiles[g] = np.partition(part, k[g] - 1)[k[g] - 1]
    return quantiles, counts


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
