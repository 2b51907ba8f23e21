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
from evenhand._decompose_estimates import (
    Estimates,
    Label,
    bootstrap_replicates,
    explained_labels,
)
from evenhand._errors import EvenhandError

__all__ = ["fairlie", "fit_binary"]

_MAX_ITER = 100
_BOOT_ORDERS = 20  # random orders per bootstrap replicate (keeps replicates cheap)


class _NoConvergence(Exception):
    pass


def _cdf(link: str, eta: np.ndarray) -> np.ndarray:
    return expit(eta) if link == "logit" else ndtr(eta)


def fit_binary(
    z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    link: str,
    start: np.ndarray | None = None,
) -> np.ndarray:
    """Maximum-likelihood logit/probit coefficients by Fisher scoring (IRLS).

    ``start`` (e.g. the full-sample fit, for a bootstrap replicate) saves iterations.
    Raises ``_NoConvergence`` when the coefficients diverge (perfect separation).
    """
    w = np.ones(y.shape[0]) if w is None else w
    beta = np.zeros(z.shape[1]) if start is None else start.copy()
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
    z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    in_b: np.ndarray,
    ref: Any,
    link: str,
    start: np.ndarray | None,
) -> np.ndarray:
    """Return the fitted parameters for the reference spec (Jann's end with the indicator's)."""
    if ref == "neumark":
        return fit_binary(z, y, w, link, start)
    if ref == "jann":
        zz = np.hstack([z, in_b[:, None].astype(float)])
        return fit_binary(zz, y, w, link, start)
    rows = ~in_b if ref[1] == 1.0 else in_b
    return fit_binary(z[rows], y[rows], None if w is None else w[rows], link, start)


def _wmean(x: np.ndarray, w: np.ndarray | None) -> float:
    return float(np.mean(x)) if w is None else float(np.average(x, weights=w))


def _sorted_sample(n: int, k: int, w: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``n`` positions in increasing order: without replacement, or ∝ ``w`` with."""
    if w is None:
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[:k]] = True
        return np.flatnonzero(mask)
    counts = rng.multinomial(k, w / w.sum())
    return np.repeat(np.arange(n), counts)


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
    """Mean contribution of each unit over ``n_orders`` random orders and subsamples.

    Each draw subsamples the larger group to the smaller's size and pairs rows by rank of
    ``xβ*``; both groups are sorted by ``xβ*`` once, so a subsample in position order is
    already sorted.
    """
    swap = za.shape[0] > zb.shape[0]
    small, large = (zb, za) if swap else (za, zb)
    w_small, w_large = (wb, wa) if swap else (wa, wb)
    order_s = np.argsort(small @ beta, kind="stable")
    order_l = np.argsort(large @ beta, kind="stable")
    small, large = small[order_s], large[order_l]
    pw = None if w_small is None else w_small[order_s]
    w_large = None if w_large is None else w_large[order_l]
    # columns grouped by unit, so per-unit sums are one reduceat (small matrix products would
    # go through multithreaded BLAS, which is slow for shapes this thin)
    by_unit = np.concatenate([np.asarray(cols, dtype=np.intp) for cols in units])
    unit_start = np.cumsum([0] + [len(cols) for cols in units[:-1]])
    total = np.zeros(len(units))
    for _ in range(n_orders):
        sub = large[_sorted_sample(large.shape[0], small.shape[0], w_large, rng)]
        pa, pb = (sub, small) if swap else (small, sub)
        # change of xβ* when a unit switches from A's to B's values
        step = np.add.reduceat(((pb - pa) * beta)[:, by_unit], unit_start, axis=1)
        perm = rng.permutation(len(units))
        eta = (pa @ beta)[:, None] + np.cumsum(step[:, perm], axis=1)
        f = _cdf(link, np.concatenate([(pa @ beta)[:, None], eta], axis=1))
        drop = f[:, :-1] - f[:, 1:]  # (rows, units in the drawn order)
        total[perm] += drop.mean(axis=0) if pw is None else pw @ drop / pw.sum()
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
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the estimate vector and the fitted parameters (a start for replicates)."""
    z, y, in_b = design.z[rows], design.y[rows], design.in_b[rows]
    w = None if design.w is None else design.w[rows]
    params = _reference_fit(z, y, w, in_b, ref, link, start)
    beta = params[: z.shape[1]]
    wa, wb = (None, None) if w is None else (w[~in_b], w[in_b])
    ya, yb = _wmean(y[~in_b], wa), _wmean(y[in_b], wb)
    explained = _wmean(_cdf(link, z[~in_b] @ beta), wa) - _wmean(_cdf(link, z[in_b] @ beta), wb)
    detail = _detail(z[~in_b], z[in_b], wa, wb, beta, units, n_orders, link, rng)
    value = np.concatenate(
        [[ya, yb, ya - yb, explained], factor_agg @ detail, detail, [ya - yb - explained]]
    )
    return value, params


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
        value, params = _estimate(
            design, everything, reference, link, units, factor_agg, n_orders, rng
        )
    except _NoConvergence as exc:
        raise EvenhandError(
            f"The {link} model of method='fairlie' did not converge (coefficients diverge, "
            "typically perfect separation: a regressor or category predicts the outcome "
            "exactly). Merge sparse categories or drop the separating column."
        ) from exc
    boot = None
    if n_boot > 0:
        boot = bootstrap_replicates(
            design.in_b,
            n_boot,
            value.shape[0],
            rng,
            lambda rows: _estimate(
                design,
                rows,
                reference,
                link,
                units,
                factor_agg,
                min(n_orders, _BOOT_ORDERS),
                rng,
                start=params,
            )[0],
            _NoConvergence,
        )
        boot = boot[np.all(np.isfinite(boot), axis=1)]
    labels = explained_labels(design.groups, design.factor_names)
    labels += [Label("explained", "variable", u[0], u[1]) for u in units_meta]
    labels.append(Label("unexplained", "total"))
    return Estimates(labels, value, boot, None)
