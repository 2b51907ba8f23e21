"""Fairlie's nonlinear decomposition for a binary outcome (logit or probit).

Fairlie (2005), "An extension of the Blinder-Oaxaca decomposition technique to logit and
probit models", Journal of Economic and Social Measurement 30: 305-316. The variable order is
randomised and averaged, as Jann's Stata ``fairlie`` does with ``reps()`` and ``ro``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, ndtr

from evenhand._decompose_design import Design
from evenhand._decompose_estimates import Estimates, Label, stratified_indices
from evenhand._errors import EvenhandError

__all__ = ["fairlie", "fit_binary"]

_MAX_ITER = 100
_BOOT_ORDERS = 20  # random orders per bootstrap replicate (keeps replicates cheap)


class _NoConvergence(Exception):
    pass


def _cdf(link: str, eta: np.ndarray) -> np.ndarray:
    return expit(eta) if link == "logit" else ndtr(eta)


def fit_binary(z: np.ndarray, y: np.ndarray, w: np.ndarray | None, link: str) -> np.ndarray:
    """Maximum-likelihood logit/probit coefficients by Fisher scoring (IRLS).

    Raises ``_NoConvergence`` when the coefficients diverge (perfect separation).
    """
    w = np.ones(y.shape[0]) if w is None else w
    beta = np.zeros(z.shape[1])
    for _ in range(_MAX_ITER):
        eta = z @ beta
        mu = np.clip(_cdf(link, eta), 1e-12, 1 - 1e-12)
        d = mu * (1 - mu) if link == "logit" else np.exp(-0.5 * eta * eta) / np.sqrt(2 * np.pi)
        d = np.maximum(d, 1e-300)
        work_w = w * d * d / (mu * (1 - mu))
        rhs = z.T @ (work_w * (eta + (y - mu) / d))
        try:
            new = np.linalg.solve(z.T @ (z * work_w[:, None]), rhs)
        except np.linalg.LinAlgError as exc:
            raise _NoConvergence from exc
        if not np.all(np.isfinite(new)) or np.max(np.abs(new)) > 1e6:
            raise _NoConvergence
        if np.max(np.abs(new - beta)) < 1e-10 * (1 + np.max(np.abs(beta))):
            return new
        beta = new
    raise _NoConvergence


def _reference_fit(
    z: np.ndarray, y: np.ndarray, w: np.ndarray | None, in_b: np.ndarray, ref: Any, link: str
) -> np.ndarray:
    """Coefficients ``β*`` (without a group indicator) for the reference spec."""
    if ref == "neumark":
        return fit_binary(z, y, w, link)
    if ref == "jann":
        zz = np.hstack([z, in_b[:, None].astype(float)])
        return fit_binary(zz, y, w, link)[:-1]
    rows = ~in_b if ref[1] == 1.0 else in_b
    return fit_binary(z[rows], y[rows], None if w is None else w[rows], link)


def _wmean(x: np.ndarray, w: np.ndarray | None) -> float:
    return float(np.mean(x)) if w is None else float(np.average(x, weights=w))


def _paired_samples(
    za: np.ndarray,
    zb: np.ndarray,
    wa: np.ndarray | None,
    wb: np.ndarray | None,
    beta: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Subsample the larger group to the smaller's size, then pair rows by rank of ``xβ*``."""
    swap = za.shape[0] > zb.shape[0]
    small, large = (zb, za) if swap else (za, zb)
    w_small, w_large = (wb, wa) if swap else (wa, wb)
    if w_large is None:
        pick = rng.choice(large.shape[0], size=small.shape[0], replace=False)
    else:
        pick = rng.choice(large.shape[0], size=small.shape[0], p=w_large / w_large.sum())
    sub = large[pick]
    small_sorted = np.argsort(small @ beta, kind="stable")
    sub_sorted = np.argsort(sub @ beta, kind="stable")
    s, l_ = small[small_sorted], sub[sub_sorted]
    ws = None if w_small is None else w_small[small_sorted]
    return (l_, s, ws) if swap else (s, l_, ws)


def _detail(
    za: np.ndarray,
    zb: np.ndarray,
    wa: np.ndarray | None,
    wb: np.ndarray | None,
    beta: np.ndarray,
    units: list[tuple[int, ...]],
    n_orders: int,
    link: str,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mean contribution of each unit over ``n_orders`` random orders and subsamples."""
    total = np.zeros(len(units))
    for _ in range(n_orders):
        pa, pb, pw = _paired_samples(za, zb, wa, wb, beta, rng)
        eta = pa @ beta
        f_cur = _cdf(link, eta)
        for u in rng.permutation(len(units)):
            cols = list(units[u])
            eta = eta + (pb[:, cols] - pa[:, cols]) @ beta[cols]
            f_new = _cdf(link, eta)
            total[u] += _wmean(f_cur - f_new, pw)
            f_cur = f_new
    return total / n_orders


def _estimate(
    design: Design,
    rows: np.ndarray,
    ref: Any,
    link: str,
    units: list[tuple[int, ...]],
    factor_agg: np.ndarray,
    n_orders: int,
    rng: np.random.Generator,
) -> np.ndarray:
    z, y, in_b = design.z[rows], design.y[rows], design.in_b[rows]
    w = None if design.w is None else design.w[rows]
    beta = _reference_fit(z, y, w, in_b, ref, link)
    wa, wb = (None, None) if w is None else (w[~in_b], w[in_b])
    ya, yb = _wmean(y[~in_b], wa), _wmean(y[in_b], wb)
    explained = _wmean(_cdf(link, z[~in_b] @ beta), wa) - _wmean(_cdf(link, z[in_b] @ beta), wb)
    detail = _detail(z[~in_b], z[in_b], wa, wb, beta, units, n_orders, link, rng)
    return np.concatenate(
        [[ya, yb, ya - yb, explained], factor_agg @ detail, detail, [ya - yb - explained]]
    )


def fairlie(
    design: Design,
    *,
    reference: Any,
    model: Any,
    n_boot: int,
    n_orders: int,
    rng: np.random.Generator,
) -> Estimates:
    """Fairlie decomposition with bootstrap replicates (coefficients refitted per replicate)."""
    link = "logit" if model is None else model
    if link not in ("logit", "probit"):
        raise EvenhandError(
            f"For method='fairlie' the 'model' parameter must be 'logit' or 'probit'; got "
            f"{model!r}."
        )
    if not np.all((design.y == 0) | (design.y == 1)):
        bad = design.y[(design.y != 0) & (design.y != 1)][:3]
        raise EvenhandError(
            f"method='fairlie' needs a binary outcome coded 0/1; got values such as "
            f"{bad.tolist()!r}. Use method='oaxaca' for a continuous outcome."
        )
    if not isinstance(n_orders, int) or n_orders < 1:
        raise EvenhandError(
            f"The 'n_orders' parameter must be a positive integer; got {n_orders!r}."
        )
    # a canonical (name-sorted) unit order makes results independent of the input's column order
    order = sorted(range(len(design.units)), key=lambda i: design.units[i][0])
    units_meta = [design.units[i] for i in order]
    units = [u[2] for u in units_meta]
    factor_agg = np.array(
        [[u[1] == f for u in units_meta] for f in design.factor_names], dtype=float
    )
    everything = np.arange(design.y.shape[0])
    try:
        value = _estimate(design, everything, reference, link, units, factor_agg, n_orders, rng)
    except _NoConvergence as exc:
        raise EvenhandError(
            f"The {link} model of method='fairlie' did not converge (coefficients diverge, "
            "typically perfect separation: a regressor or category predicts the outcome "
            "exactly). Merge sparse categories or drop the separating column."
        ) from exc
    boot = None
    if n_boot > 0:
        boot = np.full((n_boot, value.shape[0]), np.nan)
        for r in range(n_boot):
            rows = stratified_indices(design.in_b, rng)
            try:
                boot[r] = _estimate(
                    design,
                    rows,
                    reference,
                    link,
                    units,
                    factor_agg,
                    min(n_orders, _BOOT_ORDERS),
                    rng,
                )
            except _NoConvergence:
                continue
        boot = boot[np.all(np.isfinite(boot), axis=1)]
    a, b = design.groups
    labels = [
        Label("mean", "mean", a),
        Label("mean", "mean", b),
        Label("gap", "gap"),
        Label("explained", "total"),
    ]
    labels += [Label("explained", "factor", f, f) for f in design.factor_names]
    labels += [Label("explained", "variable", u[0], u[1]) for u in units_meta]
    labels.append(Label("unexplained", "total"))
    return Estimates(labels, value, boot, None)
