"""Oaxaca–Blinder decomposition as a function of per-group cross-product sums.

Every quantity of a linear decomposition is a smooth function of, per group ``g``, the
weighted sums ``S_g = Σ w z zᵀ`` and ``b_g = Σ w z y`` (``z`` = intercept and regressors):
``β_g = S_g⁻¹ b_g`` and ``x̄_g = S_g[0, :] / S_g[0, 0]``. So

* a bootstrap replicate only needs the resampled sums, obtained for all replicates at once as a
  matrix product ``counts @ products`` over blocks of rows (multinomial counts, drawn per group
  so the group sizes stay fixed); no replicate refits a regression on rows;
* delta-method standard errors follow from the Jacobian of the decomposition with respect to
  the sums (computed exactly by complex-step differentiation) and the per-row covariance of the
  products: ``Var θ ≈ Σ_g n_g · J_g Cov(p_i) J_gᵀ``.

Coefficients of categorical variables are normalised (Yun 2005; Gardeazabal & Ugidos 2004):
with ``K`` levels and the baseline's coefficient 0, ``a = Σ_k β_k / K`` is added to the
intercept and subtracted from every level (the baseline included), so detailed contributions
do not depend on which level was omitted. Totals are unchanged by the normalisation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evenhand._decompose._design import INTERCEPT, Design
from evenhand._decompose._estimates import Estimates, Label

__all__ = ["COMPONENTS", "oaxaca"]

COMPONENTS = {
    "twofold": ("explained", "unexplained", "unexplained_a", "unexplained_b"),
    "threefold": ("endowments", "coefficients", "interaction"),
}
_BLOCK = 8192  # rows per block when forming bootstrap sums


class _Layout:
    """Maps regression coefficients and means onto normalised full terms and output labels."""

    def __init__(self, design: Design, kind: str) -> None:
        p = design.z.shape[1]
        cat_of = {j: c for c in design.categoricals for j in c.index}
        seen: set[str] = set()
        rows_m, rows_n, terms = [], [], []
        for j in range(p):
            cat = cat_of.get(j)
            if cat is not None and cat.column not in seen:
                seen.add(cat.column)  # the baseline level, inserted before the first dummy
                base_m = np.zeros(p)
                base_m[0] = 1.0
                base_m[list(cat.index)] = -1.0
                base_n = np.zeros(p)
                base_n[list(cat.index)] = -1.0 / len(cat.levels)
                rows_m.append(base_m)
                rows_n.append(base_n)
                terms.append((cat.factor, cat.column, cat.levels[0]))
            e = np.zeros(p)
            e[j] = 1.0
            n_row = e.copy()
            if cat is not None:
                n_row[list(cat.index)] -= 1.0 / len(cat.levels)
            rows_m.append(e)
            rows_n.append(n_row)
            terms.append((design.factors[j], design.columns[j], design.levels[j]))
        n_mat = np.array(rows_n)
        for cat in design.categoricals:  # intercept absorbs + a
            n_mat[0, list(cat.index)] += 1.0 / len(cat.levels)
        self.mean_map = np.array(rows_m)  # full means = mean_map @ x̄
        self.coef_map = n_mat  # normalised full coefficients = coef_map @ β
        self.terms = terms
        factors = [*design.factor_names, INTERCEPT]
        self.factor_agg = np.array([[t[0] == f for t in terms] for f in factors], dtype=float)
        self.factors = factors
        self.groups = design.groups
        self.components = COMPONENTS[kind]

    def labels(self) -> list[Label]:
        """Labels of the output vector, in the order :meth:`assemble` produces."""
        a, b = self.groups
        out = [Label("mean", "mean", a), Label("mean", "mean", b), Label("gap", "gap")]
        for comp in self.components:
            out.append(Label(comp, "total"))
            out += [Label(comp, "factor", f, f) for f in self.factors]
            out += [Label(comp, "variable", col, fac, lev) for fac, col, lev in self.terms]
        return out

    def assemble(self, ya: Any, yb: Any, parts: list[Any]) -> Any:
        """Stack means, gap and each component's (total, factors, terms) along the last axis."""
        pieces = [ya[..., None], yb[..., None], (ya - yb)[..., None]]
        for terms in parts:
            pieces += [terms.sum(axis=-1)[..., None], terms @ self.factor_agg.T, terms]
        return np.concatenate(pieces, axis=-1)


def _unvech(t: Any, p: int) -> tuple[Any, Any]:
    """Split sums ``t`` (..., q) into ``S`` (..., p, p) and ``b`` (..., p)."""
    iu, ju = np.triu_indices(p)
    m = iu.size
    s = np.zeros((*t.shape[:-1], p, p), dtype=t.dtype)
    s[..., iu, ju] = t[..., :m]
    s[..., ju, iu] = t[..., :m]
    return s, t[..., m : m + p]


def _solve(s: Any, b: Any) -> Any:
    """Batched solve; a singular system (a degenerate bootstrap replicate) gives ``nan``."""
    try:
        return np.linalg.solve(s, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        if s.ndim == 2:
            raise
    flat_s = s.reshape(-1, *s.shape[-2:])
    flat_b = b.reshape(-1, b.shape[-1])
    out = np.full(flat_b.shape, np.nan, dtype=np.result_type(s, b))
    for i in range(flat_s.shape[0]):
        try:
            out[i] = np.linalg.solve(flat_s[i], flat_b[i])
        except np.linalg.LinAlgError:
            continue
    return out.reshape(b.shape)


def _reference_beta(ref: Any, sa: Any, ba: Any, sb: Any, bb: Any, beta_a: Any, beta_b: Any) -> Any:
    """Return the reference coefficients ``β_R`` for a reference spec (see :func:`oaxaca`)."""
    if ref == "neumark":
        return _solve(sa + sb, ba + bb)
    if ref == "jann":
        p = sa.shape[-1]
        s = np.zeros((*sa.shape[:-2], p + 1, p + 1), dtype=sa.dtype)
        s[..., :p, :p] = sa + sb
        s[..., :p, p] = sb[..., :, 0]
        s[..., p, :p] = sb[..., 0, :]
        s[..., p, p] = sb[..., 0, 0]
        rhs = np.concatenate([ba + bb, bb[..., :1]], axis=-1)
        return _solve(s, rhs)[..., :p]
    if ref == "cotton":
        na, nb = sa[..., 0, 0], sb[..., 0, 0]
        wa = (na / (na + nb))[..., None]
        return wa * beta_a + (1.0 - wa) * beta_b
    weight = 0.5 if ref == "reimers" else float(ref[1])  # ("weight", w): w·β_A + (1-w)·β_B
    return weight * beta_a + (1.0 - weight) * beta_b


def _decompose_sums(layout: _Layout, ref: Any, kind: str, ta: Any, tb: Any) -> Any:
    """Return the decomposition vector from the groups' sums (batched over leading axes)."""
    p = layout.mean_map.shape[1]
    sa, ba = _unvech(ta, p)
    sb, bb = _unvech(tb, p)
    beta_a, beta_b = _solve(sa, ba), _solve(sb, bb)
    xa = (sa[..., 0, :] / sa[..., 0, :1]) @ layout.mean_map.T
    xb = (sb[..., 0, :] / sb[..., 0, :1]) @ layout.mean_map.T
    ya, yb = ba[..., 0] / sa[..., 0, 0], bb[..., 0] / sb[..., 0, 0]
    ca, cb = beta_a @ layout.coef_map.T, beta_b @ layout.coef_map.T
    dx = xa - xb
    if kind == "threefold":
        parts = [dx * cb, xb * (ca - cb), dx * (ca - cb)]
    else:
        beta_r = _reference_beta(ref, sa, ba, sb, bb, beta_a, beta_b)
        cr = beta_r @ layout.coef_map.T
        ua, ub = xa * (ca - cr), xb * (cr - cb)
        parts = [dx * cr, ua + ub, ua, ub]
    return layout.assemble(ya, yb, parts)


def _products(z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Per-row products whose column sums are ``(vech S, b)``."""
    iu, ju = np.triu_indices(z.shape[1])
    prod = np.concatenate([z[:, iu] * z[:, ju], z * y[:, None]], axis=1)
    return prod if w is None else prod * w[:, None]


def _sums(z: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Return ``(vech S, b)`` of one group, via BLAS (the column sums of :func:`_products`)."""
    zw = z if w is None else z * w[:, None]
    iu, ju = np.triu_indices(z.shape[1])
    return np.concatenate([(zw.T @ z)[iu, ju], zw.T @ y])


def _jacobian(layout: _Layout, ref: Any, kind: str, sums: list, g: int) -> np.ndarray:
    """Exact Jacobian (q, k) of the output with respect to group ``g``'s sums (complex step)."""
    h = 1e-30
    q = sums[g].shape[0]
    pert = sums[g][None, :] + 1j * h * np.eye(q)
    other = np.broadcast_to(sums[1 - g].astype(complex), pert.shape)
    ta, tb = (pert, other) if g == 0 else (other, pert)
    return _decompose_sums(layout, ref, kind, ta, tb).imag / h


def _group_pass(
    z: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    sums: np.ndarray,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray | None]:
    """One pass over a group's rows: covariance of the products and bootstrap sums.

    Returns ``n_g · Cov(p_i)`` (q, q), the covariance of this group's sums under row
    resampling, and the sums of ``n_boot`` multinomial row resamples, shape (n_boot, q).
    Products are centred on their mean (known from ``sums``) so the covariance accumulates
    without cancellation. The multinomial over all rows is drawn as block totals, then uniform
    draws within each block (an exact factorisation), so memory stays bounded by
    ``n_boot × _BLOCK``.
    """
    n = z.shape[0]
    mean = sums / n
    starts = np.arange(0, n, _BLOCK)
    sizes = np.minimum(starts + _BLOCK, n) - starts
    boot = None
    if n_boot > 0:
        totals = rng.multinomial(n, sizes / n, size=n_boot)  # (n_boot, n_blocks)
        boot = totals.sum(axis=1, keepdims=True) * mean[None, :]  # = n · mean, per replicate
        offsets = np.arange(n_boot) * _BLOCK
    cross = np.zeros((mean.shape[0], mean.shape[0]))
    for k, (start, size) in enumerate(zip(starts, sizes, strict=True)):
        sl = slice(start, start + size)
        prod = _products(z[sl], y[sl], None if w is None else w[sl])
        prod -= mean
        cross += prod.T @ prod  # a symmetric rank-k update in BLAS
        if boot is not None:
            t = totals[:, k]
            idx = rng.integers(0, size, size=int(t.sum())) + np.repeat(offsets, t)
            counts = np.bincount(idx, minlength=n_boot * _BLOCK).reshape(n_boot, _BLOCK)
            boot += counts[:, :size].astype(float) @ prod
    return cross * (n / max(n - 1, 1)), boot


def oaxaca(
    design: Design, *, reference: Any, kind: str, n_boot: int, rng: np.random.Generator
) -> Estimates:
    """Oaxaca–Blinder decomposition of ``mean(A) - mean(B)``.

    ``reference`` is ``"neumark"``, ``"jann"``, ``"cotton"``, ``"reimers"`` or
    ``("weight", w)`` for ``β_R = w·β_A + (1 - w)·β_B`` (a group's own coefficients are
    ``w = 1`` for A and ``w = 0`` for B).
    """
    layout = _Layout(design, kind)
    groups = [
        (design.z[rows], design.y[rows], None if design.w is None else design.w[rows])
        for rows in design.slices()
    ]
    sums = [_sums(*g) for g in groups]
    value = _decompose_sums(layout, reference, kind, sums[0], sums[1])
    passes = [_group_pass(*groups[g], sums[g], n_boot, rng) for g in (0, 1)]
    var = sum(
        np.einsum("ik,ij,jk->k", jac, cov, jac, optimize=True)
        for jac, cov in (
            (_jacobian(layout, reference, kind, sums, g), passes[g][0]) for g in (0, 1)
        )
    )
    delta = np.sqrt(np.maximum(var, 0.0))
    boot = None
    if n_boot > 0:
        boot = _decompose_sums(layout, reference, kind, passes[0][1], passes[1][1])
    return Estimates(layout.labels(), value, boot, delta)
