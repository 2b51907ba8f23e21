"""Fixtures for the mitigation tests: synthetic data, COMPAS and rate helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

COMPAS_FEATURES = ["age", "priors_count", "juv_fel_count", "juv_misd_count", "juv_other_count"]


def synthetic(
    n: int, seed: int = 0, n_groups: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features shifted by group, label depending on features and group: a real disparity."""
    rng = np.random.default_rng(seed)
    probs = np.array([0.6, 0.4]) if n_groups == 2 else np.full(n_groups, 1 / n_groups)
    a = rng.choice(n_groups, n, p=probs)
    X = rng.normal(size=(n, 4)) + 0.8 * a[:, None] * np.array([1, 0.5, 0, 0])
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + rng.normal(size=n) > 0.6).astype(int)
    return X, y, a


def compas(csv: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """COMPAS two-year recidivism, all rows of African-American and Caucasian defendants.

    Restricting race to the two largest groups (6,150 of 7,214 rows) keeps every group
    large enough that randomised predictions are close to their expectation.
    Features: age, prior and juvenile counts, felony charge, log hours in jail.
    """
    df = pd.read_csv(csv)
    df = df[df["race"].isin(["African-American", "Caucasian"])]
    jail = (pd.to_datetime(df["c_jail_out"]) - pd.to_datetime(df["c_jail_in"])).dt.total_seconds()
    X = df[COMPAS_FEATURES].assign(
        felony=(df["c_charge_degree"] == "F").astype(int),
        jail=np.log1p(jail.fillna(0).clip(lower=0) / 3600),
    )
    return X.to_numpy(float), df["two_year_recid"].to_numpy(), df["race"].to_numpy()


def rates(p: np.ndarray, y: np.ndarray, a: np.ndarray) -> dict[str, float]:
    """Between-group spreads of selection rate, TPR, FPR (expected, from P(ŷ=1))."""
    groups = np.unique(a)
    sel = [p[a == g].mean() for g in groups]
    tpr = [p[(a == g) & (y == 1)].mean() for g in groups]
    fpr = [p[(a == g) & (y == 0)].mean() for g in groups]
    spread = lambda v: float(max(v) - min(v))  # noqa: E731
    return {"dp": spread(sel), "tpr": spread(tpr), "fpr": spread(fpr),
            "eo": max(spread(tpr), spread(fpr))}


def expected_accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(p * y + (1 - p) * (1 - y)))


@pytest.fixture(scope="session")
def make_synthetic():
    return synthetic


@pytest.fixture(scope="session")
def compas_data(compas_csv):
    return compas(compas_csv)


@pytest.fixture(scope="session")
def fair_rates():
    return rates


@pytest.fixture(scope="session")
def exp_accuracy():
    return expected_accuracy


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas():
    """One BLAS thread: the reductions fit many tiny models, and on this shared 2-core
    machine a multi-threaded BLAS makes each tiny fit about 14x slower (measured)."""
    with threadpool_limits(limits=1):
        yield
