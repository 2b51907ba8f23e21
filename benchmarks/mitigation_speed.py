"""Time evenhand.mitigate against fairlearn and aif360 in one run.

Usage:
    .venv/bin/python benchmarks/mitigation_speed.py            # 50k and 500k rows
    .venv/bin/python benchmarks/mitigation_speed.py --quick    # 5k rows, smoke run

Each method runs on the same synthetic data (two groups with a planted disparity) for
evenhand and its peer. Wall time is measured without tracing; peak memory comes from a
second run under tracemalloc. Post-processors get the same prefitted logistic regression,
so their times are the post-processing alone. Accuracy and disparity are *expected*
values of the randomised classifiers (from their P(y=1)); post-processors are scored on
their training data (what they guarantee), reductions on a held-out sample.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

import evenhand.mitigate as eh

warnings.filterwarnings("ignore")  # peers' pandas deprecation noise


def make(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.choice(2, n, p=[0.6, 0.4])
    X = rng.normal(size=(n, 4)) + 0.8 * a[:, None] * np.array([1, 0.5, 0, 0])
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.3 * X[:, 2] + rng.normal(size=n) > 0.6).astype(int)
    return X, y, a


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(seconds, peak MiB, result): time untraced, then peak memory in a traced rerun."""
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return seconds, peak, out


def quality(p: np.ndarray, y: np.ndarray, a: np.ndarray, kind: str) -> str:
    acc = float(np.mean(p * y + (1 - p) * (1 - y)))
    if kind == "none":
        return f"acc={acc:.4f}"
    sel = [p[a == g].mean() for g in (0, 1)]
    tpr = [p[(a == g) & (y == 1)].mean() for g in (0, 1)]
    fpr = [p[(a == g) & (y == 0)].mean() for g in (0, 1)]
    gap = {"dp": abs(sel[0] - sel[1]),
           "eo": max(abs(tpr[0] - tpr[1]), abs(fpr[0] - fpr[1]))}[kind]
    return f"acc={acc:.4f} {kind}={gap:.4f}"


def row(name: str, n: int, ours: tuple, peer: tuple | None, peer_name: str) -> None:
    t, m, q = ours
    line = f"{name:<40} {n:>8,} evenhand {t:8.3f}s {m:8.1f}MiB  {q}"
    print(line)
    if peer is not None:
        tp, mp, qp = peer
        print(f"{'':<40} {'':>8} {peer_name:<8} {tp:8.3f}s {mp:8.1f}MiB  {qp}"
              f"   speed-up x{tp / t:.1f}")


def threshold(X, y, a, lr, constraint: str) -> None:
    from fairlearn.postprocessing import ThresholdOptimizer as FTO

    fl_name = {"equalized_odds": "equalized_odds",
               "demographic_parity": "demographic_parity"}[constraint]
    kind = "eo" if constraint == "equalized_odds" else "dp"
    t, m, ours = measure(lambda: eh.ThresholdOptimizer(
        lr, constraints=constraint, prefit=True).fit(X, y, sensitive_features=a))
    p = ours.predict_proba(X, sensitive_features=a)[:, 1]
    tf, mf, fl = measure(lambda: FTO(estimator=lr, constraints=fl_name, prefit=True,
                                     predict_method="predict_proba").fit(
        X, y, sensitive_features=a))
    pf = fl._pmf_predict(X, sensitive_features=a)[:, 1]
    row(f"ThresholdOptimizer({constraint})", len(y), (t, m, quality(p, y, a, kind)),
        (tf, mf, quality(pf, y, a, kind)), "fairlearn")


def reductions(X, y, a, Xt, yt, at) -> None:
    import fairlearn.reductions as fr

    t, m, ours = measure(lambda: eh.ExponentiatedGradient(
        LogisticRegression(), eh.DemographicParity(), eps=0.01).fit(X, y, sensitive_features=a))
    tf, mf, fl = measure(lambda: fr.ExponentiatedGradient(
        LogisticRegression(), fr.DemographicParity(), eps=0.01).fit(X, y, sensitive_features=a))
    row("ExponentiatedGradient(DP, 0.01)", len(y),
        (t, m, quality(ours.predict_proba(Xt)[:, 1], yt, at, "dp")
         + f" fits={ours.n_oracle_calls_}"),
        (tf, mf, quality(fl._pmf_predict(Xt)[:, 1], yt, at, "dp")
         + f" fits={fl.n_oracle_calls_}"), "fairlearn")
    t, m, ours = measure(lambda: eh.GridSearch(
        LogisticRegression(), eh.DemographicParity(), grid_size=10).fit(
        X, y, sensitive_features=a))
    tf, mf, fl = measure(lambda: fr.GridSearch(
        LogisticRegression(), fr.DemographicParity(), grid_size=10).fit(
        X, y, sensitive_features=a))
    row("GridSearch(DP, 10 points)", len(y),
        (t, m, quality(ours.predict(Xt).astype(float), yt, at, "dp")),
        (tf, mf, quality(fl.predict(Xt).astype(float), yt, at, "dp")), "fairlearn")


def pre(X, y, a) -> None:
    from aif360.algorithms.preprocessing import Reweighing as AifRW
    from aif360.datasets import BinaryLabelDataset
    from fairlearn.preprocessing import CorrelationRemover as FCR

    t, m, ours = measure(lambda: eh.Reweighing().fit(X, y, sensitive_features=a))
    df = pd.DataFrame({"a": a.astype(float), "y": y.astype(float)})
    ds = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["a"])
    rw = AifRW(unprivileged_groups=[{"a": 0.0}], privileged_groups=[{"a": 1.0}])
    ta, ma, theirs = measure(lambda: rw.fit_transform(ds))
    same = np.max(np.abs(ours.sample_weight_ - theirs.instance_weights))
    row("Reweighing", len(y), (t, m, f"max|w - aif360|={same:.1e}"),
        (ta, ma, "(dataset already built)"), "aif360")
    t, m, _ = measure(lambda: eh.CorrelationRemover().fit_transform(X, sensitive_features=a))
    Xs = np.column_stack((X, np.eye(2)[a]))
    tf, mf, _ = measure(lambda: FCR(sensitive_feature_ids=[4, 5]).fit_transform(Xs))
    row("CorrelationRemover", len(y), (t, m, ""), (tf, mf, ""), "fairlearn")
    t, m, _ = measure(lambda: eh.DisparateImpactRemover().fit_transform(
        X, sensitive_features=a))
    row("DisparateImpactRemover", len(y), (t, m, "(aif360 needs BlackBoxAuditing)"),
        None, "")


def reject_option(X, y, a, lr, with_aif360: bool) -> None:
    from aif360.algorithms.postprocessing import RejectOptionClassification
    from aif360.datasets import BinaryLabelDataset

    t, m, ours = measure(lambda: eh.RejectOptionClassifier(
        lr, prefit=True, unprivileged=[0], n_thresholds=20, n_margins=10).fit(
        X, y, sensitive_features=a))
    p = ours.predict(X, sensitive_features=a).astype(float)
    peer = None
    if with_aif360:
        df = pd.DataFrame({"a": a.astype(float), "y": y.astype(float)})
        truth = BinaryLabelDataset(df=df, label_names=["y"], protected_attribute_names=["a"])
        pred = truth.copy(deepcopy=True)
        pred.scores = lr.predict_proba(X)[:, 1:]
        roc = RejectOptionClassification(
            unprivileged_groups=[{"a": 0.0}], privileged_groups=[{"a": 1.0}],
            num_class_thresh=20, num_ROC_margin=10)
        ta, ma, fitted = measure(lambda: roc.fit(truth, pred))
        pa = fitted.predict(pred).labels.ravel()
        peer = (ta, ma, quality(pa, y, a, "dp")
                + f" t={fitted.classification_threshold:.3f} m={fitted.ROC_margin:.3f}")
    row("RejectOptionClassifier(20x10)", len(y),
        (t, m, quality(p, y, a, "dp") + f" t={ours.threshold_:.3f} m={ours.margin_:.3f}"),
        peer, "aif360")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k rows only (smoke run)")
    args = parser.parse_args()
    sizes = [5_000] if args.quick else [50_000, 500_000]
    print("timings are noisy: other jobs share this machine's 2 cores\n")
    for n in sizes:
        X, y, a = make(n, 0)
        Xt, yt, at = make(n, 1)
        lr = LogisticRegression().fit(X, y)
        threshold(X, y, a, lr, "equalized_odds")
        threshold(X, y, a, lr, "demographic_parity")
        reductions(X, y, a, Xt, yt, at)
        pre(X, y, a)
        reject_option(X, y, a, lr, with_aif360=n <= 50_000)
        print()


if __name__ == "__main__":
    main()
