"""Time the full evenhand audit against fairlearn's MetricFrame and a bare numpy lower bound.

For each size N: two sensitive columns (5 races × 2 sexes = 10 intersections), a label, a
decision and a score. Measured, each in the same run:

- evenhand: the full audit (every metric, bootstrap intervals with 1,000 replicates, the
  summary) from a polars DataFrame;
- lower bound: a numpy ``bincount`` pass over integer codes computing the same statistics
  (confusion cells and per-group score histograms), the practical floor;
- polars group_by: one ``group_by`` of the same statistics;
- fairlearn: ``MetricFrame`` with five metrics and no intervals (skipped at 1e7 unless
  ``--fairlearn-all``, as it takes minutes);
- with ``--engines pandas duckdb pyarrow spark``: the same audit from those inputs (Spark in
  local mode, read from a Parquet file; its session start-up is not timed).

Peak memory is the peak resident set size above the level before the step, sampled every
2 ms. Usage: ``python benchmarks/audit_speed.py [--sizes 100000 1000000 10000000]``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable

import _measure
import numpy as np
import polars as pl

import evenhand
from evenhand._core._stats import DEFAULT_BINS

RACES = np.array(["African-American", "Caucasian", "Hispanic", "Asian", "Other"])
SEXES = np.array(["Female", "Male"])
BINS = DEFAULT_BINS  # the lower bounds build the same histograms as evenhand


def measure(fn: Callable[[], object], repeat: int = 1) -> tuple[float, float]:
    """Best wall time over ``repeat`` runs and the peak RSS increase (bytes) of the first."""
    best, peak, _ = _measure.measure(fn, repeat)
    return best, peak


def make_data(n: int, seed: int = 0) -> tuple[pl.DataFrame, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    race = rng.integers(0, 5, n)
    sex = rng.integers(0, 2, n)
    score = np.clip(rng.beta(2, 3, n) + 0.05 * (race == 0), 0, 1)
    y = (rng.random(n) < score).astype(np.int8)
    pred = (score >= 0.5).astype(np.int8)
    frame = pl.DataFrame({
        "race": pl.Series(RACES[race]).cast(pl.Categorical),
        "sex": pl.Series(SEXES[sex]).cast(pl.Categorical),
        "y": y, "pred": pred, "score": score,
    })
    codes = {"race": race, "sex": sex, "y": y, "pred": pred, "score": score}
    return frame, codes


def numpy_lower_bound(c: dict[str, np.ndarray]) -> None:
    group = c["race"] * 2 + c["sex"]
    cell = (group * 2 + c["y"]) * 2 + c["pred"]
    np.bincount(cell, minlength=40)
    bins = np.minimum((c["score"] * BINS).astype(np.int64), BINS - 1)
    np.bincount((group * 2 + c["y"]) * BINS + bins, minlength=10 * 2 * BINS)
    np.bincount(cell, weights=c["score"], minlength=40)


def polars_group_by(frame: pl.DataFrame) -> None:
    key = (pl.col("y").cast(pl.Int32) * 2 + pl.col("pred")) * BINS + (
        pl.col("score") * BINS).floor().clip(0, BINS - 1).cast(pl.Int32)
    frame.lazy().group_by("race", "sex", key.alias("k")).agg(
        pl.len(), pl.col("score").sum()).collect()


def run_evenhand(frame: object) -> None:
    result = evenhand.audit(frame, y_true="y", y_pred="pred", y_score="score",
                            sensitive=["race", "sex"], ci_method="bootstrap", n_boot=1000,
                            seed=0)
    result.summary()


def run_fairlearn(c: dict[str, np.ndarray]) -> None:
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    MetricFrame(
        metrics={"selection_rate": selection_rate, "tpr": true_positive_rate,
                 "fpr": false_positive_rate, "accuracy": accuracy_score,
                 "ppv": precision_score},
        y_true=c["y"], y_pred=c["pred"],
        sensitive_features={"race": RACES[c["race"]], "sex": SEXES[c["sex"]]},
    )


ENGINES = ("pandas", "pyarrow", "duckdb", "spark")


def native_input(frame: pl.DataFrame, engine: str, workdir: str) -> object:
    """The benchmark frame as ``engine``'s native object (strings for the sensitive columns)."""
    plain = frame.with_columns(pl.col("race", "sex").cast(pl.String))
    if engine == "pandas":
        return plain.to_pandas()
    if engine == "pyarrow":
        return plain.to_arrow()
    if engine == "duckdb":
        import duckdb

        return duckdb.connect().from_arrow(plain.to_arrow())
    path = f"{workdir}/audit_speed_{plain.height}.parquet"
    plain.write_parquet(path)
    return spark_session().read.parquet(path)


def spark_session() -> object:
    import os

    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return (SparkSession.builder.master("local[2]").appName("evenhand-benchmark")
            .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--fairlearn-all", action="store_true",
                        help="also run fairlearn at 1e7 rows (minutes)")
    parser.add_argument("--quick", action="store_true", help="one small size, for CI")
    parser.add_argument("--engines", nargs="*", default=[], choices=ENGINES,
                        help="also time the audit from these inputs")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="evenhand-bench-")
    sizes = [20_000] if args.quick else args.sizes
    print(f"{'N':>10} {'step':<18} {'seconds':>9} {'peak MB':>9} {'vs numpy':>9} "
          f"{'fairlearn/ev':>13}")
    for n in sizes:
        frame, codes = make_data(n)
        input_mb = frame.estimated_size() / 1e6
        run_evenhand(frame.head(1000))  # warm imports
        results = {
            "numpy bincount": measure(lambda c=codes: numpy_lower_bound(c), repeat=5),
            "polars group_by": measure(lambda f=frame: polars_group_by(f), repeat=5),
            "evenhand audit": measure(lambda f=frame: run_evenhand(f), repeat=5),
        }
        for engine in args.engines:
            native = native_input(frame, engine, workdir)
            run_evenhand(native)  # warm the engine (Spark compiles its plan once)
            results[f"evenhand {engine}"] = measure(lambda d=native: run_evenhand(d), repeat=3)
        if n < 5_000_000 or args.fairlearn_all:
            results["fairlearn"] = measure(lambda c=codes: run_fairlearn(c))
        floor = results["numpy bincount"][0]
        ours = results["evenhand audit"][0]
        for step, (sec, peak) in results.items():
            ratio = f"{results['fairlearn'][0] / ours:13.0f}" if (
                step == "evenhand audit" and "fairlearn" in results) else ""
            print(f"{n:>10} {step:<18} {sec:9.3f} {peak / 1e6:9.1f} {sec / floor:9.2f} {ratio}")
        peak_ratio = results["evenhand audit"][1] / 1e6 / input_mb
        print(f"{n:>10} input columns {input_mb:.1f} MB; evenhand peak / input = "
              f"{peak_ratio:.2f}; evenhand / polars group_by = "
              f"{ours / results['polars group_by'][0]:.2f}")


if __name__ == "__main__":
    main()
