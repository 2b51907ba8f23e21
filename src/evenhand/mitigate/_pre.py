"""Pre-processing: reweighing, disparate-impact repair and linear decorrelation."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, OneToOneFeatureMixin, TransformerMixin
from sklearn.base import clone as sk_clone
from sklearn.utils._available_if import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from evenhand._core._errors import EvenhandError
from evenhand.mitigate._validation import (
    binary_only_tags,
    binary_target,
    check_sample_weight,
    copy_n_features_in,
    encode_groups,
    group_codes,
)

__all__ = ["CorrelationRemover", "DisparateImpactRemover", "Reweighing"]


def _has_estimator_method(name: str) -> Any:
    def check(self: Reweighing) -> bool:
        return self.estimator is None or hasattr(self.estimator, name)

    return check


class Reweighing(ClassifierMixin, BaseEstimator):
    r"""Sample weights that make the label independent of the group (Kamiran & Calders 2012).

    Each row of group :math:`g` and label :math:`c` gets the weight

    .. math:: w(g, c) = \frac{W_g \, W_c}{W \, W_{g,c}},

    where :math:`W_\cdot` are (sample-weighted) counts: under the new weights the label
    distribution is the same in every group while group and label totals are unchanged
    (a group with a single label cannot be balanced: its rows get :math:`W_c / W`).
    The returned weights multiply any incoming ``sample_weight``. A (group, label) cell
    with no rows never needs a weight, so no division by zero can occur on training data.

    With an ``estimator``, :meth:`fit` also fits a clone of it with these weights and the
    object behaves as that classifier (``predict``, ``predict_proba``, ...).

    Parameters
    ----------
    estimator : classifier or None
        Fitted with ``sample_weight=sample_weight_`` if given.

    Attributes
    ----------
    groups_ : ndarray
        Group labels seen in ``fit``.
    classes_ : ndarray of shape (2,)
        The two class labels.
    weight_table_ : ndarray of shape (n_groups, 2)
        :math:`w(g, c)`; ``nan`` for a cell without rows.
    sample_weight_ : ndarray of shape (n_samples,)
        The weight of every training row.
    estimator_ : classifier
        The fitted clone (only with an estimator).

    Examples
    --------
    >>> import numpy as np
    >>> from evenhand.mitigate import Reweighing
    >>> y = np.array([1, 1, 0, 0, 1, 0, 0, 0])
    >>> a = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    >>> rw = Reweighing().fit(np.zeros((8, 1)), y, sensitive_features=a)
    >>> rw.weight_table_.round(3).tolist()
    [[1.25, 0.75], [0.833, 1.5]]
    """

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def __sklearn_tags__(self) -> Any:
        return binary_only_tags(super().__sklearn_tags__(), self.estimator)

    def fit(
        self, X: Any, y: Any, *, sensitive_features: Any = None, sample_weight: Any = None
    ) -> Reweighing:
        """Compute the weights and, with an estimator, fit it with them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features (only used to fit ``estimator``).
        y : array-like of shape (n_samples,)
            Binary labels.
        sensitive_features : array-like of shape (n_samples,) or (n_samples, k)
            Group of each row (required).
        sample_weight : array-like of shape (n_samples,), optional
            Incoming row weights; the result multiplies them.

        Returns
        -------
        Reweighing
            The fitted object.
        """
        y01, self.classes_ = binary_target(y, owner="Reweighing")
        codes, self.groups_ = encode_groups(sensitive_features, len(y01), owner="Reweighing")
        weight = check_sample_weight(sample_weight, len(y01))
        self.weight_table_ = _reweigh_table(codes, y01, weight, len(self.groups_))
        self.sample_weight_ = weight * self.weight_table_[codes, y01]
        if self.estimator is not None:
            self.estimator_ = sk_clone(self.estimator).fit(
                X, self.classes_[y01], sample_weight=self.sample_weight_
            )
            copy_n_features_in(self, self.estimator_)
        return self

    def compute_sample_weight(
        self, y: Any, *, sensitive_features: Any = None, sample_weight: Any = None
    ) -> np.ndarray:
        """Return the fitted weights for new rows (same group/label cells as in ``fit``).

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Labels from ``classes_``.
        sensitive_features : array-like
            Group of each row (required; groups seen in ``fit``).
        sample_weight : array-like, optional
            Incoming weights to multiply.

        Returns
        -------
        ndarray of shape (n_samples,)
            The weights.
        """
        check_is_fitted(self, "weight_table_")
        y = np.asarray(y).ravel()
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise EvenhandError(
                f"y contains the label {y[unknown][0].item()!r}, which is not one of the fitted "
                f"classes {self.classes_.tolist()!r}."
            )
        codes = group_codes(sensitive_features, self.groups_, len(y), owner="Reweighing",
                            method="compute_sample_weight")
        table = self.weight_table_[codes, np.searchsorted(self.classes_, y)]
        if np.isnan(table).any():
            raise EvenhandError(
                "Some rows fall in a (group, label) cell that had no rows in fit, so it has "
                "no weight. Refit Reweighing on data that contains that cell."
            )
        return check_sample_weight(sample_weight, len(y)) * table

    def _fitted_estimator(self) -> Any:
        check_is_fitted(self, "weight_table_")
        if self.estimator is None:
            raise EvenhandError(
                "Reweighing was fitted without an estimator, so it cannot predict; pass "
                "estimator=... or use sample_weight_ with your own model."
            )
        return self.estimator_

    def predict(self, X: Any) -> np.ndarray:
        """Predict with the reweighted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,)
            Class labels.
        """
        return self._fitted_estimator().predict(X)

    @available_if(_has_estimator_method("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the reweighted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples, 2)
            Probabilities ordered as ``classes_``.
        """
        return self._fitted_estimator().predict_proba(X)

    @available_if(_has_estimator_method("decision_function"))
    def decision_function(self, X: Any) -> np.ndarray:
        """Decision function of the reweighted estimator.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Features.

        Returns
        -------
        ndarray of shape (n_samples,)
            Scores.
        """
        return self._fitted_estimator().decision_function(X)


def _reweigh_table(
    codes: np.ndarray, y01: np.ndarray, weight: np.ndarray, n_groups: int
) -> np.ndarray:
    """``W_g W_c / (W W_gc)`` for every cell; ``nan`` for empty cells."""
    cell = np.bincount(codes * 2 + y01, weight, minlength=2 * n_groups).reshape(n_groups, 2)
    expected = np.outer(cell.sum(axis=1), cell.sum(axis=0)) / cell.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cell > 0, expected / cell, np.nan)


class _GroupTransformer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Shared plumbing of the transformers that take ``sensitive_features`` in transform."""

    def fit_transform(
        self, X: Any, y: Any = None, *, sensitive_features: Any = None
    ) -> np.ndarray:
        """Fit, then transform ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features.
        y : ignored
            Accepted for Pipeline compatibility.
        sensitive_features : array-like
            Group of each row (required).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            The transformed features.
        """
        return self.fit(X, y, sensitive_features=sensitive_features).transform(
            X, sensitive_features=sensitive_features
        )

    def _fit_input(
        self, X: Any, sensitive_features: Any, *, param: str, owner: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Check the [0, 1] parameter ``param``, validate ``X``, encode and store the groups."""
        value = getattr(self, param)
        if not 0 <= value <= 1:
            raise EvenhandError(
                f"The '{param}' parameter of {owner} must be in [0, 1]; got {value!r}."
            )
        X = validate_data(self, X, dtype=float)
        codes, self.groups_ = encode_groups(sensitive_features, X.shape[0], owner=owner)
        return X, codes

    def _transform_input(
        self, X: Any, sensitive_features: Any, *, fitted: str, owner: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Validate ``X`` of a fitted transformer and map its groups onto ``groups_``."""
        check_is_fitted(self, fitted)
        X = validate_data(self, X, dtype=float, reset=False)
        codes = group_codes(sensitive_features, self.groups_, X.shape[0], owner=owner,
                            method="transform")
        return X, codes


class DisparateImpactRemover(_GroupTransformer):
    r"""Repair features so their distribution no longer depends on the group (Feldman 2015).

    For each feature, every group's quantile function :math:`F_g^{-1}` is estimated on the
    levels :math:`(k + 1/2)/L` (``levels_``; :math:`L` is ``n_quantiles`` capped at the
    smallest group) by Hazen's rule, which puts the :math:`k`-th smallest of a group's
    :math:`m` values at level :math:`(k + 1/2)/m`; the target is their pointwise median (the
    mean of the two middle groups for an even number of groups)
    :math:`F^{-1}(u) = \mathrm{median}_g F_g^{-1}(u)`. A value :math:`x` of group
    :math:`g` at within-group quantile :math:`u = F_g(x)` becomes

    .. math:: x' = (1 - \lambda)\,x + \lambda\,F^{-1}(u),

    with :math:`\lambda` = ``repair_level``. At 1 every group has (up to the quantile
    grid) the same distribution; at 0 nothing changes. Ranks within a group are kept.

    Parameters
    ----------
    repair_level : float, default=1.0
        λ in [0, 1].
    n_quantiles : int, default=1000
        Quantile levels used for each group (capped at the group size).

    Attributes
    ----------
    groups_ : ndarray
        Group labels seen in ``fit``.
    quantiles_ : ndarray of shape (n_groups, n_levels, n_features)
        Each group's quantile function on the levels ``levels_``.
    target_ : ndarray of shape (n_levels, n_features)
        The median quantile function.

    Examples
    --------
    >>> import numpy as np
    >>> from evenhand.mitigate import DisparateImpactRemover
    >>> a = np.repeat([0, 1], 500)
    >>> X = np.random.default_rng(0).normal(size=(1000, 1)) + 2 * a[:, None]
    >>> Xr = DisparateImpactRemover().fit_transform(X, sensitive_features=a)
    >>> bool(abs(Xr[a == 0].mean() - Xr[a == 1].mean()) < 0.05)
    True
    """

    def __init__(self, repair_level: float = 1.0, n_quantiles: int = 1000) -> None:
        self.repair_level = repair_level
        self.n_quantiles = n_quantiles

    def fit(
        self, X: Any, y: Any = None, *, sensitive_features: Any = None
    ) -> DisparateImpactRemover:
        """Estimate each group's quantile functions and their median.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features to repair.
        y : ignored
            Accepted for Pipeline compatibility.
        sensitive_features : array-like
            Group of each row (required).

        Returns
        -------
        DisparateImpactRemover
            The fitted transformer.
        """
        X, codes = self._fit_input(X, sensitive_features, param="repair_level",
                                   owner="DisparateImpactRemover")
        sizes = np.bincount(codes, minlength=len(self.groups_))
        n_levels = max(2, min(int(self.n_quantiles), int(sizes.min())))
        self.levels_ = (np.arange(n_levels) + 0.5) / n_levels
        # Hazen's rule puts the k-th smallest of n values at level (k + 0.5) / n, the same
        # convention as ``levels_`` (and as the ECDF inverted in ``transform``): with numpy's
        # default rule a full repair of identical groups would not return them unchanged
        self.quantiles_ = np.stack([
            np.quantile(X[codes == g], self.levels_, axis=0, method="hazen")
            for g in range(len(self.groups_))
        ])
        self.target_ = np.median(self.quantiles_, axis=0)
        return self

    def transform(self, X: Any, *, sensitive_features: Any = None) -> np.ndarray:
        """Repair ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features.
        sensitive_features : array-like
            Group of each row (required; groups seen in ``fit``).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            The repaired features.
        """
        X, codes = self._transform_input(X, sensitive_features, fitted="target_",
                                         owner="DisparateImpactRemover")
        out = X.copy()
        for g in range(len(self.groups_)):
            rows = codes == g
            for j in range(X.shape[1]):
                u = _ecdf(self.quantiles_[g, :, j], self.levels_, X[rows, j])
                target = np.interp(u, self.levels_, self.target_[:, j])
                out[rows, j] = (1 - self.repair_level) * X[rows, j] + self.repair_level * target
        return out


def _ecdf(quantiles: np.ndarray, levels: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Quantile level of ``x`` by inverting a (possibly flat) quantile function.

    Ties (flat stretches) map to the middle of their range of levels, so a tied value is
    moved to the target's value at its mid-rank.
    """
    lo = np.interp(x, quantiles, levels, left=levels[0], right=levels[-1])
    hi = -np.interp(-x, -quantiles[::-1], -levels[::-1], left=-levels[-1], right=-levels[0])
    return (lo + hi) / 2


class CorrelationRemover(_GroupTransformer):
    r"""Remove the linear association between the features and the group.

    The group is one-hot encoded to :math:`S` (centred with its training mean
    :math:`\bar S`); the least-squares fit :math:`\beta = \arg\min \|X - (S - \bar S)\beta\|`
    gives the decorrelated features :math:`X - (S - \bar S)\beta`, and the output is

    .. math:: X' = \alpha\,(X - (S - \bar S)\beta) + (1 - \alpha)\,X.

    With ``alpha=1`` every output column has zero sample correlation with every group
    indicator on the training data; ``alpha=0`` returns ``X`` unchanged. (The same as
    fairlearn's ``CorrelationRemover`` given the indicator columns.)

    Parameters
    ----------
    alpha : float, default=1.0
        Strength of the removal, in [0, 1].

    Attributes
    ----------
    groups_ : ndarray
        Group labels seen in ``fit``.
    sensitive_mean_ : ndarray of shape (n_groups,)
        :math:`\bar S`, the group shares.
    beta_ : ndarray of shape (n_groups, n_features)
        The least-squares coefficients.

    Examples
    --------
    >>> import numpy as np
    >>> from evenhand.mitigate import CorrelationRemover
    >>> a = np.repeat([0, 1], 50)
    >>> X = np.column_stack((a + np.linspace(0, 1, 100), np.ones(100)))
    >>> Xc = CorrelationRemover().fit_transform(X, sensitive_features=a)
    >>> bool(abs(np.corrcoef(Xc[:, 0], a)[0, 1]) < 1e-12)
    True
    """

    def __init__(self, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(
        self, X: Any, y: Any = None, *, sensitive_features: Any = None
    ) -> CorrelationRemover:
        """Fit the least-squares coefficients of ``X`` on the group indicators.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features.
        y : ignored
            Accepted for Pipeline compatibility.
        sensitive_features : array-like
            Group of each row (required).

        Returns
        -------
        CorrelationRemover
            The fitted transformer.
        """
        X, codes = self._fit_input(X, sensitive_features, param="alpha",
                                   owner="CorrelationRemover")
        onehot = np.eye(len(self.groups_))[codes]
        self.sensitive_mean_ = onehot.mean(axis=0)
        self.beta_ = np.linalg.lstsq(onehot - self.sensitive_mean_, X, rcond=None)[0]
        return self

    def transform(self, X: Any, *, sensitive_features: Any = None) -> np.ndarray:
        """Decorrelate ``X`` from the group.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Numeric features.
        sensitive_features : array-like
            Group of each row (required; groups seen in ``fit``).

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            The transformed features.
        """
        X, codes = self._transform_input(X, sensitive_features, fitted="beta_",
                                         owner="CorrelationRemover")
        centred = np.eye(len(self.groups_))[codes] - self.sensitive_mean_
        return X - self.alpha * (centred @ self.beta_)
