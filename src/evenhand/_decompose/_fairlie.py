"""Fairlie's nonlinear decomposition for a binary outcome (logit or probit).

Fairlie (2005), "An extension of the Blinder-Oaxaca decomposition technique to logit and
probit models", Journal of Economic and Social Measurement 30: 305-316. The variable order is
randomised and averaged, as Jann's Stata ``fairlie`` does with ``reps()`` and ``ro``.

Delta-method standard errors (as in Fairlie 2005 and Jann's ``fairlie``) treat the matched
samples and variable orders as fixed and the regressors as non-random: every explained
quantity is a smooth function ``c(β)`` of the reference model's coefficients, so
``Var c ≈ ∇c(β̂)ᵀ V(β̂) ∇c(β̂)`` (see :func:`coef_covariance` and :func:`fairlie`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, log_ndtr, ndtr

from evenhand._core._errors import EvenhandError
from evenhand._decompose._design import Design
from evenhand._decompose._estimates import (
    Estimates,
    Label,
    bootstrap_replicates,
    explained_labels,
    weighted_mean,
)

__all__ = ["coef_covariance", "fairlie", "fit_binary"]

_MAX_ITER = 100
_BOOT_ORDERS = 20  # random orders per bootstrap replicate (keeps replicates cheap)


class _NoConvergence(Exception):
    pass


def _cdf(link: str, eta: np.ndarray) -> np.ndarray:
    return expit(eta) if link == "logit" else ndtr(eta)


def _pdf(link: str, eta: np.ndarray) -> np.ndarray:
    """Density ``f = F'`` of the link: ``Λ(η)(1 − Λ(η))`` (logit) or ``φ(η)`` (probit)."""
    if link == "logit":
        mu = expit(eta)
        return mu * (1.0 - mu)
    return np.exp(-0.5 * eta * eta) / np.sqrt(2.0 * np.pi)


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


def _reference_data(
    z: np.ndarray, y: np.ndarray, w: np.ndarray | None, in_b: np.ndarray, ref: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Design, outcome and weights of the reference model (Jann's ends with B's indicator)."""
    if ref == "neumark":
        return z, y, w
    if ref == "jann":
        return np.hstack([z, in_b[:, None].astype(float)]), y, w
    rows = ~in_b if ref[1] == 1.0 else in_b
    return z[rows], y[rows], None if w is None else w[rows]


def _loglik_derivatives(y: np.ndarray, eta: np.ndarray, link: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-row ``∂ℓ/∂η`` and ``−∂²ℓ/∂η²`` of the Bernoulli log-likelihood.

    Logit: ``y − Λ(η)`` and ``Λ(η)(1 − Λ(η))``. Probit, with ``q = 2y − 1``:
    ``λ = q φ(qη) / Φ(qη)`` and ``λ(λ + η)`` (the observed, not the expected, information;
    the ratio is taken on the log scale so it stays finite in the tails).
    """
    if link == "logit":
        mu = expit(eta)
        return y - mu, mu * (1.0 - mu)
    q = 2.0 * y - 1.0
    lam = q * np.exp(-0.5 * eta * eta - 0.5 * np.log(2.0 * np.pi) - log_ndtr(q * eta))
    return lam, lam * (lam + eta)


def coef_covariance(
    z: np.ndarray, y: np.ndarray, w: np.ndarray | None, beta: np.ndarray, link: str
) -> np.ndarray:
    """Covariance ``V(β̂)`` of the logit/probit coefficients fitted by :func:`fit_binary`.

    With ``s_i = ∂ℓ_i/∂η_i`` and ``h_i = −∂²ℓ_i/∂η_i²`` at ``η_i = z_iᵀβ̂``
    (see :func:`_loglik_derivatives`):

    * unweighted: the inverse observed information ``V = (Σ_i h_i z_i z_iᵀ)⁻¹``, as
      statsmodels' ``Logit``/``Probit`` ``cov_params()`` and Stata's default ``vce(oim)``
      (for the logit it equals the inverse Fisher information);
    * weighted: the sandwich ``V = H⁻¹ M H⁻¹`` with ``H = Σ_i w_i h_i z_i z_iᵀ`` and
      ``M = n/(n − 1) Σ_i w_i² s_i² z_i z_iᵀ`` (``n`` rows with a positive weight), as Stata
      with ``pweight``. Rows are sampling units carrying their weight, as in the Oaxaca
      delta method and in the bootstrap here (both resample rows with their weights); the
      result does not depend on the scale of the weights.

    Raises ``numpy.linalg.LinAlgError`` when the information matrix is singular.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.column_stack([np.ones(6), [0.0, 1, 2, 3, 4, 5]])
    >>> y = np.array([0.0, 0, 1, 0, 1, 1])
    >>> beta = fit_binary(z, y, None, "logit")
    >>> np.sqrt(np.diag(coef_covariance(z, y, None, beta, "logit"))).round(3)
    array([2.546, 0.913])
    """
    score, curv = _loglik_derivatives(y, z @ beta, link)
    if w is None:
        return np.linalg.inv(z.T @ (z * curv[:, None]))
    bread = np.linalg.inv(z.T @ (z * (w * curv)[:, None]))
    u = z * (w * score)[:, None]
    n = int(np.count_nonzero(w > 0))
    cov = bread @ (u.T @ u) @ bread * (n / max(n - 1, 1))
    return 0.5 * (cov + cov.T)


def _sorted_sample(n: int, k: int, w: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """``k`` of ``n`` positions in increasing order: without replacement, or ∝ ``w`` with."""
    if w is None:
        mask = np.zeros(n, dtype=bool)
        mask[rng.permutation(n)[:k]] = True
        return np.flatnonzero(mask)
    counts = rng.multinomial(k, w / w.sum())
    return np.repeat(np.arange(n), counts)


class _Units:
    """Design columns of each unit, as a ``reduceat`` layout and as a 0/1 matrix."""

    def __init__(self, units: list[tuple[int, ...]], p: int) -> None:
        # columns grouped by unit, so per-unit sums are one reduceat (small matrix products
        # would go through multithreaded BLAS, which is slow for shapes this thin)
        self.by_unit = np.concatenate([np.asarray(cols, dtype=np.intp) for cols in units])
        self.start = np.cumsum([0] + [len(cols) for cols in units[:-1]])
        self.onehot = np.zeros((len(units), p))
        for u, cols in enumerate(units):
            self.onehot[u, list(cols)] = 1.0


def _one_order(
    pa: np.ndarray,
    pb: np.ndarray,
    pw: np.ndarray | None,
    beta: np.ndarray,
    perm: np.ndarray,
    layout: _Units,
    link: str,
    gradient: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Contributions of the units in order ``perm`` for matched rows ``pa``/``pb``.

    Row ``i`` after ``k`` switches is ``x_ik = a_i + M_k ⊙ (b_i − a_i)`` (``M_k`` marks the
    columns of the first ``k`` units of ``perm``); unit ``perm[k−1]`` contributes
    ``c_k = Σ_i ω_i [F(x_i,k−1ᵀβ) − F(x_ikᵀβ)]`` with ``ω`` the normalised weights of the
    smaller group (``1/m`` unweighted), and
    ``∂c_k/∂β = Σ_i ω_i [f(x_i,k−1ᵀβ) x_i,k−1 − f(x_ikᵀβ) x_ik]``. Both come back in
    ``perm`` order; the gradient (units, p) only if ``gradient``.
    """
    step = np.add.reduceat(((pb - pa) * beta)[:, layout.by_unit], layout.start, axis=1)
    eta0 = (pa @ beta)[:, None]
    eta = np.concatenate([eta0, eta0 + np.cumsum(step[:, perm], axis=1)], axis=1)
    f = _cdf(link, eta)
    drop = f[:, :-1] - f[:, 1:]  # (rows, units in the drawn order)
    value = drop.mean(axis=0) if pw is None else pw @ drop / pw.sum()
    if not gradient:
        return value, None
    omega = np.full(pa.shape[0], 1.0 / pa.shape[0]) if pw is None else pw / pw.sum()
    dens = (_pdf(link, eta) * omega[:, None]).T  # (units + 1, rows)
    masks = np.vstack([np.zeros(pa.shape[1]), np.cumsum(layout.onehot[perm], axis=0)])
    g = dens @ pa + masks * (dens @ (pb - pa))  # Σ_i ω_i f(x_ikᵀβ) x_ik, row k
    return value, g[:-1] - g[1:]


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
    *,
    gradient: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean contribution of each unit over ``n_orders`` random orders and subsamples.

    Both groups are sorted by ``xβ*`` once (:func:`_sorted_by_index`), then
    :func:`_detail_sorted` draws the subsamples and orders. With ``gradient`` the mean
    gradient (units, p) w.r.t. ``beta`` is returned too, else ``None``.
    """
    groups = _sorted_by_index(za, zb, wa, wb, beta)
    return _detail_sorted(groups, beta, units, n_orders, link, rng, gradient=gradient)


_Groups = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]


def _sorted_by_index(
    za: np.ndarray, zb: np.ndarray, wa: np.ndarray | None, wb: np.ndarray | None, key: np.ndarray
) -> _Groups:
    """Each group's rows (and weights) in increasing order of ``z @ key`` (stable sort)."""
    order_a = np.argsort(za @ key, kind="stable")
    order_b = np.argsort(zb @ key, kind="stable")
    return (
        za[order_a],
        zb[order_b],
        None if wa is None else wa[order_a],
        None if wb is None else wb[order_b],
    )


def _detail_sorted(
    groups: _Groups, beta: np.ndarray, units: list[tuple[int, ...]], n_orders: int, link: str,
    rng: np.random.Generator, *, gradient: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`_detail` on ``(za, zb, wa, wb)`` already sorted by the index that pairs rows.

    Each draw subsamples the larger group to the smaller's size and pairs rows by rank;
    as both groups are sorted, a subsample in position order is already sorted.
    """
    za, zb, wa, wb = groups
    swap = za.shape[0] > zb.shape[0]
    small, large = (zb, za) if swap else (za, zb)
    pw, w_large = (wb, wa) if swap else (wa, wb)
    layout = _Units(units, za.shape[1])
    total = np.zeros(len(units))
    grad = np.zeros((len(units), za.shape[1])) if gradient else None
    for _ in range(n_orders):
        sub = large[_sorted_sample(large.shape[0], small.shape[0], w_large, rng)]
        pa, pb = (sub, small) if swap else (small, sub)
        perm = rng.permutation(len(units))
        value, g = _one_order(pa, pb, pw, beta, perm, layout, link, gradient)
        total[perm] += value
        if grad is not None and g is not None:
            grad[perm] += g
    return total / n_orders, None if grad is None else grad / n_orders


def _explained_gradient(
    za: np.ndarray,
    zb: np.ndarray,
    wa: np.ndarray | None,
    wb: np.ndarray | None,
    beta: np.ndarray,
    link: str,
) -> np.ndarray:
    """``∂/∂β [mean_A F(xβ) − mean_B F(xβ)] = mean_A f(xβ) x − mean_B f(xβ) x`` (weighted)."""
    ga = np.average(za * _pdf(link, za @ beta)[:, None], axis=0, weights=wa)
    gb = np.average(zb * _pdf(link, zb @ beta)[:, None], axis=0, weights=wb)
    return np.asarray(ga - gb)


def _delta_se(jac: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Return ``sqrt(diag(J V Jᵀ))`` for the rows of ``J`` (entries, p).

    ``V`` may be larger (Jann's group indicator comes last): its leading ``p × p`` block is
    used.
    """
    p = jac.shape[1]
    var = np.einsum("ij,jk,ik->i", jac, cov[:p, :p], jac, optimize=True)
    return np.sqrt(np.maximum(var, 0.0))


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
    delta: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return the estimates, the fitted parameters (a start for replicates) and delta SEs.

    The delta-method standard errors are computed only if ``delta`` (else ``None``); they are
    ``nan`` for the entries that do not depend on ``β`` (means, gap, unexplained).
    """
    z, y, in_b = design.z[rows], design.y[rows], design.in_b[rows]
    w = None if design.w is None else design.w[rows]
    ref_data = _reference_data(z, y, w, in_b, ref)
    params = fit_binary(*ref_data, link, start)
    beta = params[: z.shape[1]]
    wa, wb = (None, None) if w is None else (w[~in_b], w[in_b])
    ya, yb = weighted_mean(y[~in_b], wa), weighted_mean(y[in_b], wb)
    explained = (weighted_mean(_cdf(link, z[~in_b] @ beta), wa)
                 - weighted_mean(_cdf(link, z[in_b] @ beta), wb))
    detail, grad = _detail(
        z[~in_b], z[in_b], wa, wb, beta, units, n_orders, link, rng, gradient=delta
    )
    value = np.concatenate(
        [[ya, yb, ya - yb, explained], factor_agg @ detail, detail, [ya - yb - explained]]
    )
    if grad is None:
        return value, params, None
    g_total = _explained_gradient(z[~in_b], z[in_b], wa, wb, beta, link)
    se = _delta_se(
        np.vstack([g_total, factor_agg @ grad, grad]), _covariance(ref_data, params, link)
    )
    nan = np.full(3, np.nan)
    return value, params, np.concatenate([nan, se, nan[:1]])


def _covariance(
    ref_data: tuple[np.ndarray, np.ndarray, np.ndarray | None], params: np.ndarray, link: str
) -> np.ndarray:
    """:func:`coef_covariance` of the reference model; a singular information is no fit."""
    try:
        return coef_covariance(*ref_data, params, link)
    except np.linalg.LinAlgError as exc:
        raise _NoConvergence from exc


def fairlie(
    design: Design,
    *,
    reference: Any,
    model: Any,
    n_boot: int,
    n_orders: int,
    rng: np.random.Generator,
) -> Estimates:
    """Fairlie decomposition with bootstrap replicates and delta-method standard errors.

    Bootstrap replicates resample rows within each group and refit the coefficients (with at
    most 20 random orders each, to stay cheap).

    Delta-method standard errors (``Estimates.delta_se``, reported as ``se_delta`` and used
    for normal intervals when ``n_boot=0``, as for Oaxaca) follow Fairlie (2005) and Jann's
    Stata ``fairlie``. The matched samples, variable orders and regressors are held fixed at
    the point estimate's, so the explained total ``E(β) = mean_A F(xβ) − mean_B F(xβ)`` and
    each contribution ``c_u(β)`` (averaged over orders, see :func:`_one_order`) are functions
    of the reference model's coefficients ``β`` only, with gradients

    * ``∇E = mean_A f(xβ) x − mean_B f(xβ) x`` (weighted means if weights),
    * ``∇c_u = mean over orders of Σ_i ω_i [f(x_i,k−1ᵀβ) x_i,k−1 − f(x_ikᵀβ) x_ik]``, where
      ``x_ik`` is matched pair ``i``'s hybrid row just after unit ``u`` switched to B's values
      (``k``) and just before (``k − 1``); a factor group's gradient is its units' sum,

    and ``Var ≈ ∇ᵀ V(β̂) ∇`` with ``V(β̂)`` from :func:`coef_covariance` (inverse observed
    information unweighted; sandwich with weights). For ``reference="jann"`` the block of
    ``β`` without the group indicator is used (the indicator does not enter ``c``). As in
    Fairlie's and Jann's implementations, the sampling variation of the regressors and of
    the matching is NOT included, so these are smaller than bootstrap standard errors when
    the groups' regressor means are imprecise relative to the coefficients. Group means, gap
    and the unexplained part do not depend on ``β`` this way: their ``delta_se`` is ``nan``.
    """
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
        value, params, delta = _estimate(
            design, everything, reference, link, units, factor_agg, n_orders, rng, delta=True
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
    return Estimates(labels, value, boot, delta)
