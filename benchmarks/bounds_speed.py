"""Speed of ``evenhand.bounds.certify``: rows per second on 100k rows.

Models: a logistic regression (exact closed form) and a 200-tree random forest (sound
outer bound from per-tree box–leaf intersection, plus a search inner bound). There is no
peer library that certifies score ranges, so each run is compared with the two obvious
baselines in the same process:

- ``predict``: one ``predict_proba`` call over the same rows (the floor: any method must
  score the rows at least once);
- ``corners``: scoring every corner of each row's box (2^k model calls for k ranged
  features) — exact for monotone models such as the logistic regression, only an inner
  bound for the forest.

Usage: ``python benchmarks/bounds_speed.py [--quick]``. Timings are wall-clock and noisy
when other processes share the CPU.
"""

from __future__ import annotations

import argparse
import itertools
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from evenhand.bounds import certify

RANGES = {"priors": 1, "age": 1}


def make_data(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "age": rng.integers(18, 70, n),
        "priors": rng.poisson(2.5, n),
        "juv": rng.poisson(0.3, n),
        "x1": rng.normal(size=n),
        "x2": rng.normal(size=n),
        "group": rng.choice(["a", "b", "c"], n, p=[0.5, 0.35, 0.15]),
    })
    logit = -0.04 * (df.age - 35) + 0.3 * df.priors + 0.4 * df.juv + 0.5 * df.x1
    df["y"] = (logit + rng.logistic(size=n) > 0.6).astype(int)
    return df


FEATURES = ["age", "priors", "juv", "x1", "x2"]


def timed(fn):
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, wall, peak / 2**20


def corners(model, X: pd.DataFrame):
    """Min and max of the score over the 2^k corners of each row's box."""
    low = np.full(len(X), np.inf)
    high = np.full(len(X), -np.inf)
    for signs in itertools.product([-1, 1], repeat=len(RANGES)):
        Z = X.copy()
        for s, (name, d) in zip(signs, RANGES.items(), strict=True):
            Z[name] = Z[name] + s * d
        score = model.predict_proba(Z)[:, 1]
        low, high = np.minimum(low, score), np.maximum(high, score)
    return low, high


def run(name, model, df, budget):
    X = df[FEATURES]
    _, t_pred, _ = timed(lambda: model.predict_proba(X))
    (c_low, c_high), t_corner, m_corner = timed(lambda: corners(model, X))
    cert, t_cert, m_cert = timed(lambda: certify(
        model, df, ranges=RANGES, sensitive="group", y_true="y", search_budget=budget))
    rows = cert.rows
    n = len(df)
    print(f"\n{name}: {cert.method}, search_budget={budget}")
    print(f"  {'':10s} {'wall s':>8s} {'rows/s':>10s} {'x predict':>10s} {'peak MiB':>9s}")
    print(f"  {'predict':10s} {t_pred:8.2f} {n / t_pred:10.0f} {1.0:10.1f} {'':>9s}")
    print(f"  {'corners':10s} {t_corner:8.2f} {n / t_corner:10.0f} "
          f"{t_corner / t_pred:10.1f} {m_corner:9.0f}")
    print(f"  {'certify':10s} {t_cert:8.2f} {n / t_cert:10.0f} "
          f"{t_cert / t_pred:10.1f} {m_cert:9.0f}")
    print(f"  certify / corners = {t_cert / t_corner:.2f}; flippable {cert.n_flippable}, "
          f"unresolved {cert.n_unresolved}, exact rows {rows['exact'].mean():.3f}")
    width_cert = (rows["score_high"] - rows["score_low"]).mean()
    width_corner = (c_high - c_low).mean()
    print(f"  mean interval width: certify {width_cert:.4f}, corners {width_corner:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    args = parser.parse_args()
    n, trees = (5_000, 20) if args.quick else (100_000, 200)
    df = make_data(n)
    start = time.perf_counter()
    logistic = LogisticRegression(max_iter=1000).fit(df[FEATURES], df.y)
    forest = RandomForestClassifier(
        n_estimators=trees, min_samples_leaf=20, max_depth=14, n_jobs=-1, random_state=0
    ).fit(df[FEATURES], df.y)
    print(f"{n} rows; fitted both models in {time.perf_counter() - start:.1f} s; "
          f"ranges {RANGES}")
    run("logistic regression", logistic, df, 64)
    forest.set_params(n_jobs=1)  # the same single-threaded scoring for every method
    run(f"random forest ({trees} trees)", forest, df, 0)
    run(f"random forest ({trees} trees)", forest, df, 64)
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nprocess peak RSS {usage:.0f} MiB (timings are noisy on a shared machine)")


if __name__ == "__main__":
    main()
