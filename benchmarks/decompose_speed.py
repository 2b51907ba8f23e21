"""Oaxaca–Blinder speed: evenhand vs statsmodels' OaxacaBlinder, point estimate and bootstrap.

Run: ``.venv/bin/python benchmarks/decompose_speed.py`` (full: 1e6 rows, 10 regressors,
500 bootstrap replicates) or with ``--quick`` for a small smoke run. statsmodels' bootstrap
refits OLS on rows for every replicate, so at full size it is timed on a few replicates and
extrapolated linearly (said so in the output). Timings on a shared 2-core machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc

import numpy as np
import polars as pl

import evenhand as eh

N_NUMERIC = 8  # + a 3-level categorical (2 dummies) = 10 regressors


def make_data(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    g = rng.random(n) < 0.45
    x = rng.normal(size=(n, N_NUMERIC)) + 1.0 + 0.3 * g[:, None] * rng.normal(size=N_NUMERIC)
    level = np.where(rng.random(n) < 0.3 + 0.1 * g, "b", np.where(rng.random(n) < 0.5, "a", "c"))
    beta = rng.normal(size=N_NUMERIC)
    y = 2 + x @ beta + 0.5 * g + 0.2 * x[:, 0] * g + 0.4 * (level == "b") + rng.normal(size=n)
    cols = {f"x{i}": x[:, i] for i in range(N_NUMERIC)}
    return pl.DataFrame({"y": y, "g": g.astype(np.int64), **cols, "level": level})


FACTORS = {
    "first": ["x0", "x1", "x2", "x3"],
    "second": ["x4", "x5", "x6", "x7"],
    "third": ["level"],
}


def statsmodels_model(df: pl.DataFrame):
    from statsmodels.stats.oaxaca import OaxacaBlinder

    dummies = np.column_stack([(df["level"] == v).to_numpy() for v in ("b", "c")])
    exog = np.column_stack(
        [
            np.ones(df.height),
            df.select(list(FACTORS["first"]) + list(FACTORS["second"])).to_numpy(),
            dummies,
            df["g"].to_numpy().astype(float),
        ]
    )
    return OaxacaBlinder(
        df["y"].to_numpy(),
        exog,
        exog.shape[1] - 1,
        hasconst=True,
        swap=False,
        rng=np.random.default_rng(0),
    )


CPU: dict[str, float] = {}


def timed(fn, label: str = ""):
    """Wall time of ``fn()``; its process CPU time (less sensitive to other load) is kept."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    CPU[label] = time.process_time() - cpu
    return out, time.perf_counter() - start


def peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    args = parser.parse_args()
    n, reps, sm_reps = (20_000, 100, 20) if args.quick else (1_000_000, 500, 10)
    df = make_data(n)
    import statsmodels.stats.oaxaca  # noqa: F401  (import time is not the peer's speed)

    eh.decompose(make_data(2000), outcome="y", group="g", factors=FACTORS, n_boot=2)  # warm-up
    kw = {"outcome": "y", "group": "g", "factors": FACTORS, "groups": (0, 1)}
    print(
        f"rows={n:,}  regressors=10  bootstrap replicates={reps}  "
        f"load average before start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )

    model, t_sm_build = timed(lambda: statsmodels_model(df))
    sm_two, t_sm = timed(lambda: model.two_fold(two_fold_type="pooled"))
    res, t_eh = timed(lambda: eh.decompose(df, reference="jann", n_boot=0, **kw))
    print(
        f"twofold point estimate: statsmodels {t_sm_build + t_sm:.2f} s (incl. model fits), "
        f"evenhand {t_eh:.2f} s (incl. delta-method SEs), ratio {(t_sm_build + t_sm) / t_eh:.1f}x"
    )
    print(f"  explained: statsmodels {sm_two.params[1]:.10f}  evenhand {res.explained:.10f}")

    boot, t_eh_boot = timed(
        lambda: eh.decompose(df, reference="jann", n_boot=reps, seed=0, **kw), "eh_boot"
    )
    _, t_sm_few = timed(lambda: model.variance(2, n=sm_reps, conf=1.0), "sm_boot")
    t_sm_boot = t_sm_few * reps / sm_reps
    print(
        f"bootstrap ({reps} reps): evenhand {t_eh_boot:.2f} s; statsmodels {t_sm_few:.2f} s "
        f"for {sm_reps} reps -> {t_sm_boot:.0f} s extrapolated; ratio {t_sm_boot / t_eh_boot:.0f}x"
    )
    print(
        f"  CPU time: evenhand {CPU['eh_boot']:.1f} s for {reps} reps; statsmodels "
        f"{CPU['sm_boot'] * reps / sm_reps:.0f} s extrapolated"
    )

    table = pl.concat([boot.overall, boot.by_factor.drop("factor")]).filter(
        pl.col("se_delta") > 1e-9
    )
    ratio = (table["se"] / table["se_delta"]).to_numpy()
    print(
        f"bootstrap SE / delta-method SE over {ratio.size} quantities: "
        f"min {ratio.min():.3f}, max {ratio.max():.3f}"
    )

    small = min(reps, 100)
    mem = peak_mb(lambda: eh.decompose(df, reference="jann", n_boot=small, seed=0, **kw))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak traced memory of evenhand ({small} reps): {mem:.0f} MiB; "
        f"process peak RSS: {rss:.0f} MiB (data {df.estimated_size() / 2**20:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
