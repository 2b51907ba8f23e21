"""The metrics registry: every built-in metric is defined once, from sufficient statistics.

Binary-task metrics read a :class:`Table` of weighted counts indexed
``[..., group, y_true, y_pred, bin]`` (the leading ``...`` holds bootstrap replicates), so the
same definition serves point estimates and every bootstrap replicate. Notation per group:
``TP = n[1, 1]``, ``FP = n[0, 1]``, ``FN = n[1, 0]``, ``TN = n[0, 0]`` (weighted counts),
``N = TP + FP + FN + TN``.

Rates (with Wilson intervals) — ``numerator / denominator``:

================== ============================ =====================
name               numerator                    denominator
================== ============================ =====================
base_rate          TP + FN                      N
selection_rate     TP + FP                      N
tpr                TP                           TP + FN
fpr                FP                           FP + TN
fnr                FN                           TP + FN
tnr                TN                           FP + TN
ppv                TP                           TP + FP
npv                TN                           TN + FN
fdr                FP                           TP + FP
for                FN                           TN + FN
accuracy           TP + TN                      N
error_rate         FP + FN                      N
================== ============================ =====================

Other binary metrics: ``balanced_accuracy = (tpr + tnr) / 2``, ``f1 = 2TP / (2TP + FP + FN)``,
``treatment_equality = FN / FP``.

Score metrics: ``auc`` (probability that a random positive scores above a random negative,
ties counting one half — the area under the ROC curve, weighted as
``sklearn.metrics.roc_auc_score(..., sample_weight=w)``), ``brier = Σw(s − y)² / Σw``,
``mean_score``, ``mean_score_pos``, ``mean_score_neg`` (balance for the positive and negative
class), ``ece`` (expected calibration error over 10 equal-width bins of [0, 1],
``Σ_m (n_m / N) |ȳ_m − s̄_m|``; ``nan`` unless scores lie in [0, 1]) and
``calibration_gap`` (``Σ_m (n_gm / n_g) |ȳ_gm − ȳ_m|``: how far a group's observed outcome
rate at each score bin lies from the pooled population's, over 10 equal-width bins of the
score range; 0 means the score means the same thing for this group as for everyone).

Any ratio whose denominator is 0 is ``nan`` (and flagged ``zero_division`` in results),
never 0 and never an exception.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property, reduce

import numpy as np

__all__ = [
    "BINARY_METRICS",
    "CALIBRATION_BINS",
    "REGRESSION_METRICS",
    "Metric",
    "Table",
    "bin_matmul",
    "calibration_onehot",
    "onehot_matrix",
]

CALIBRATION_BINS = 10


def onehot_matrix(codes: np.ndarray, size: int) -> np.ndarray:
    """``M[h, g] = 1`` where item ``g`` has code ``h`` (``size`` rows, one column per item).

    ``M @ a`` sums the items (groups, histogram bins) that share a code.
    """
    onehot = np.zeros((size, codes.size))
    onehot[codes, np.arange(codes.size)] = 1.0
    return onehot


def calibration_onehot(calib: np.ndarray) -> np.ndarray:
    """``[bin, m]`` matrix mapping each histogram bin to its calibration bin ``m``."""
    return onehot_matrix(calib, CALIBRATION_BINS).T


def bin_matmul(a: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Multiply the last axis of ``a`` by ``matrix`` as one 2-D product.

    numpy's batched matmul of many small matrices is several times slower.
    """
    return (a.reshape(-1, a.shape[-1]) @ matrix).reshape(*a.shape[:-1], matrix.shape[1])


@dataclass(frozen=True)
class Table:
    """Weighted counts (and score sums) of a binary task; leading axes are free.

    ``cells`` are the weighted confusion counts ``[..., group, y_true, y_pred]``. With a
    score, ``hist`` holds weighted counts per label and score bin ``[..., group, y_true, bin]``,
    ``label_score`` / ``label_score_sq`` the weighted sums of scores and squared scores per
    label ``[..., group, y_true]`` and ``calib_score`` the weighted score sums per calibration
    bin ``[..., group, m]``; ``calib`` maps each histogram bin to its calibration bin and
    ``probability`` says whether scores lie in [0, 1]. Rate metrics read ``cells`` only and
    score metrics the score arrays only, so a bootstrap may draw the two consistently per
    label without drawing their joint table. ``pool`` marks the groups that together form the
    pooled population (the reference of ``calibration_gap``); ``None`` means all groups.
    """

    cells: np.ndarray
    hist: np.ndarray | None = None
    label_score: np.ndarray | None = None
    label_score_sq: np.ndarray | None = None
    calib_score: np.ndarray | None = None
    calib: np.ndarray | None = None
    probability: bool = False
    pool: np.ndarray | None = None

    @classmethod
    def from_joint(
        cls,
        weight: np.ndarray,
        score_sum: np.ndarray | None = None,
        score_sq: np.ndarray | None = None,
        *,
        calib: np.ndarray | None = None,
        probability: bool = False,
    ) -> Table:
        """Build from joint arrays ``[..., group, y_true, y_pred, bin]``."""
        if score_sum is None:
            return cls(weight.sum(axis=-1))
        # the squared scores and calibration bins always come with the score sums
        assert score_sq is not None
        assert calib is not None
        return cls(
            weight.sum(axis=-1), weight.sum(axis=-2), score_sum.sum(axis=(-1, -2)),
            score_sq.sum(axis=(-1, -2)),
            bin_matmul(score_sum.sum(axis=(-2, -3)), calibration_onehot(calib)),
            calib=calib, probability=probability,
        )

    def fold(self, onehot: np.ndarray, pool: np.ndarray | None = None) -> Table:
        """Sum groups into ``onehot @ groups`` (``onehot`` is ``[new_group, group]``)."""
        def fold(a: np.ndarray, cell_dims: int) -> np.ndarray:
            lead, tail = a.shape[:a.ndim - cell_dims - 1], a.shape[a.ndim - cell_dims:]
            flat = a.reshape(*lead, a.shape[len(lead)], -1)
            return (onehot @ flat).reshape(*lead, onehot.shape[0], *tail)

        def fold_score(a: np.ndarray | None, cell_dims: int) -> np.ndarray | None:
            return None if a is None else fold(a, cell_dims)

        return replace(self, cells=fold(self.cells, 2), hist=fold_score(self.hist, 2),
                       label_score=fold_score(self.label_score, 1),
                       label_score_sq=fold_score(self.label_score_sq, 1),
                       calib_score=fold_score(self.calib_score, 1), pool=pool)

    @property
    def by_label(self) -> np.ndarray:
        """Weighted counts ``[..., group, y_true, bin]``."""
        return _scored(self.hist)

    @cached_property
    def label_sums(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per label: weight, score sum and squared-score sum ``[..., group, y_true]``."""
        return self.by_label.sum(axis=-1), _scored(self.label_score), _scored(self.label_score_sq)

    @cached_property
    def calibration(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per calibration bin: weighted count, positives and score sum ``[..., group, m]``."""
        by_label = bin_matmul(self.by_label, calibration_onehot(_scored(self.calib)))
        return by_label.sum(axis=-2), by_label[..., 1, :], _scored(self.calib_score)


def _scored(a: np.ndarray | None) -> np.ndarray:
    # Score metrics (``needs_score``) only run on tables built with a score: the audit
    # rejects them without ``y_score``, so a score array is never missing here.
    assert a is not None, "a score metric needs a table built with scores"
    return a


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


Cell = tuple[int, int]
_TP, _FP, _FN, _TN = (1, 1), (0, 1), (1, 0), (0, 0)
_ALL = (_TP, _FP, _FN, _TN)


def _cell_sum(cells: np.ndarray, which: tuple[Cell, ...]) -> np.ndarray:
    return reduce(operator.add, (cells[..., y, p] for y, p in which))


@dataclass(frozen=True)
class Metric:
    """A metric defined once: how to compute it and how to read it.

    ``rate`` holds the numerator and denominator cells for proportions (these get analytic
    Wilson/Newcombe/Katz intervals); ``higher_is_better`` is ``None`` where neither direction
    is better in general.
    """

    name: str
    compute: Callable[[Table], np.ndarray]
    description: str
    higher_is_better: bool | None
    rate: tuple[tuple[Cell, ...], tuple[Cell, ...]] | None = None
    needs_score: bool = False


def _rate(name: str, num: tuple[Cell, ...], den: tuple[Cell, ...], desc: str, better: bool | None):
    def compute(t: Table) -> np.ndarray:
        cells = t.cells
        return _div(_cell_sum(cells, num), _cell_sum(cells, den))

    return Metric(name, compute, desc, better, rate=(num, den))


def _positives_negatives(t: Table) -> tuple[np.ndarray, np.ndarray]:
    return t.by_label[..., 1, :], t.by_label[..., 0, :]


def _auc(t: Table) -> np.ndarray:
    pos, neg = _positives_negatives(t)
    # below[..., b]: negatives scoring under bin b plus half of those tied in it. For the few
    # merged bins of bootstrap replicates one small matrix product beats a strided cumsum.
    n_bins = pos.shape[-1]
    if n_bins <= 64:
        below = bin_matmul(neg, np.tri(n_bins, k=-1).T + 0.5 * np.eye(n_bins))
    else:
        below = np.cumsum(neg, axis=-1) - 0.5 * neg
    wins = np.einsum("...b,...b->...", pos, below)
    return _div(wins, pos.sum(axis=-1) * neg.sum(axis=-1))


def _brier(t: Table) -> np.ndarray:
    w, s, sq = t.label_sums
    total = sq.sum(axis=-1) - 2 * s[..., 1] + w[..., 1]
    return _div(total, w.sum(axis=-1))


def _mean_score(label: int | None) -> Callable[[Table], np.ndarray]:
    def compute(t: Table) -> np.ndarray:
        w, s, _ = t.label_sums
        if label is None:
            return _div(s.sum(axis=-1), w.sum(axis=-1))
        return _div(s[..., label], w[..., label])

    return compute


def _ece(t: Table) -> np.ndarray:
    n, pos, s = t.calibration
    ece = _div(np.abs(pos - s).sum(axis=-1), n.sum(axis=-1))
    return ece if t.probability else np.full_like(ece, np.nan)


def _calibration_gap(t: Table) -> np.ndarray:
    n, pos, _ = t.calibration
    pool = slice(None) if t.pool is None else t.pool
    pooled = _div(pos[..., pool, :].sum(axis=-2, keepdims=True),
                  n[..., pool, :].sum(axis=-2, keepdims=True))
    rate = _div(pos, n)
    gap = np.where(n > 0, n * np.abs(rate - pooled), 0.0).sum(axis=-1)
    return _div(gap, n.sum(axis=-1))


def _balanced_accuracy(t: Table) -> np.ndarray:
    c = t.cells
    return (_div(c[..., 1, 1], c[..., 1, 1] + c[..., 1, 0]) +
            _div(c[..., 0, 0], c[..., 0, 0] + c[..., 0, 1])) / 2


def _f1(t: Table) -> np.ndarray:
    c = t.cells
    return _div(2 * c[..., 1, 1], 2 * c[..., 1, 1] + c[..., 0, 1] + c[..., 1, 0])


def _treatment_equality(t: Table) -> np.ndarray:
    c = t.cells
    return _div(c[..., 1, 0], c[..., 0, 1])


_POS_LABEL = (_TP, _FN)
_NEG_LABEL = (_FP, _TN)
_POS_PRED = (_TP, _FP)
_NEG_PRED = (_FN, _TN)

BINARY_METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        _rate("base_rate", _POS_LABEL, _ALL, "P(y = 1): share with a positive label", None),
        _rate("selection_rate", _POS_PRED, _ALL, "P(ŷ = 1): share selected", None),
        _rate("tpr", (_TP,), _POS_LABEL, "true positive rate (recall) P(ŷ=1 | y=1)", True),
        _rate("fpr", (_FP,), _NEG_LABEL, "false positive rate P(ŷ=1 | y=0)", False),
        _rate("fnr", (_FN,), _POS_LABEL, "false negative rate P(ŷ=0 | y=1)", False),
        _rate("tnr", (_TN,), _NEG_LABEL, "true negative rate P(ŷ=0 | y=0)", True),
        _rate("ppv", (_TP,), _POS_PRED, "positive predictive value (precision)", True),
        _rate("npv", (_TN,), _NEG_PRED, "negative predictive value", True),
        _rate("fdr", (_FP,), _POS_PRED, "false discovery rate P(y=0 | ŷ=1)", False),
        _rate("for", (_FN,), _NEG_PRED, "false omission rate P(y=1 | ŷ=0)", False),
        _rate("accuracy", (_TP, _TN), _ALL, "share of correct decisions", True),
        _rate("error_rate", (_FP, _FN), _ALL, "share of wrong decisions", False),
        Metric("balanced_accuracy", _balanced_accuracy, "(tpr + tnr) / 2", True),
        Metric("f1", _f1, "2TP / (2TP + FP + FN)", True),
        Metric("treatment_equality", _treatment_equality, "FN / FP", None),
        Metric("auc", _auc, "area under the ROC curve", True, needs_score=True),
        Metric("brier", _brier, "mean squared error of the score", False, needs_score=True),
        Metric("ece", _ece, "expected calibration error (10 bins)", False, needs_score=True),
        Metric(
            "calibration_gap", _calibration_gap,
            "distance of the group's calibration curve from the pooled one", False,
            needs_score=True,
        ),
        Metric("mean_score", _mean_score(None), "mean score", None, needs_score=True),
        Metric("mean_score_pos", _mean_score(1), "mean score when y = 1", None, needs_score=True),
        Metric("mean_score_neg", _mean_score(0), "mean score when y = 0", None, needs_score=True),
    ]
}


def _sum_ratio(num: str, den: str = "w") -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    return lambda s: _div(s[num], s[den])


def _rmse(s: dict[str, np.ndarray]) -> np.ndarray:
    return np.sqrt(_div(s["r2"], s["w"]))


def _r2(s: dict[str, np.ndarray]) -> np.ndarray:
    total = s["y2"] - _div(s["y"] ** 2, s["w"])
    return 1 - _div(s["r2"], total)


@dataclass(frozen=True)
class RegressionMetric:
    """A regression metric from per-group weighted sums (see ``RegressionStats``).

    ``moments`` names the sums of the per-row quantity and of its square, used for a normal
    interval of a mean; ``None`` where no analytic interval is given.
    """

    name: str
    compute: Callable[[dict[str, np.ndarray]], np.ndarray]
    description: str
    higher_is_better: bool | None
    moments: tuple[str, str] | None = None


REGRESSION_METRICS: dict[str, RegressionMetric] = {
    m.name: m
    for m in [
        RegressionMetric("mean_label", _sum_ratio("y"), "mean of y", None, ("y", "y2")),
        RegressionMetric("mean_prediction", _sum_ratio("p"), "mean of ŷ", None, ("p", "p2")),
        RegressionMetric(
            "mean_residual", _sum_ratio("r"), "mean of ŷ − y (positive: over-prediction)",
            None, ("r", "r2"),
        ),
        RegressionMetric("mae", _sum_ratio("abs_r"), "mean |ŷ − y|", False, ("abs_r", "r2")),
        RegressionMetric("mse", _sum_ratio("r2"), "mean (ŷ − y)²", False, ("r2", "r4")),
        RegressionMetric("rmse", _rmse, "sqrt(mean (ŷ − y)²)", False),
        RegressionMetric("r2", _r2, "1 − SSE / SST within the group", True),
    ]
}
