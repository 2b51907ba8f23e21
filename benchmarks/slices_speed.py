"""Speed and memory of evenhand.find_slices against the PyPI ``sliceline`` port.

Workload (issue 4): 1e6 rows x 20 categorical features of 10 levels, ``max_order=3``,
a planted 3-way slice (``f0 == 'L0' & f1 == 'L0' & f2 == 'L0'``, 0.1% of rows, error
0.6 against 0.1 elsewhere). Each configuration runs in its own process so its peak
resident memory (``ru_maxrss``) is its own; the resident size just before the call is
printed too, so the call's own share is the difference.

    .venv/bin/python benchmarks/slices_speed.py            # full size
    .venv/bin/python benchmarks/slices_speed.py --quick    # smoke run (1e4 rows)

The peer ``sliceline`` (if installed) runs on the same data at small sizes, each in a
process capped at 4 GiB of address space and 300 s; as it cannot fit the 20-feature
lattice in that budget at any row count, it is also compared on 8 features.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

CONFIGS = {
    "score a=0.95 (default)": {},
    "score a=0.999": {"alpha": 0.999},
    "lift (no score pruning)": {"rank_by": "lift"},
    "significance": {"rank_by": "significance"},
}
PLANTED = "f0 == 'L0' & f1 == 'L0' & f2 == 'L0'"
MEMORY_CAP = 4 * 2**30


def make_data(rows: int, features: int = 20, levels: int = 10, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, levels, size=(rows, features), dtype=np.int8)
    hot = (codes[:, 0] == 0) & (codes[:, 1] == 0) & (codes[:, 2] == 0)
    errors = (rng.random(rows) < np.where(hot, 0.6, 0.1)).astype(np.float64)
    return codes, errors


def _as_frame(codes, errors):
    import polars as pl

    names = np.array([f"L{i}" for i in range(codes.max() + 1)])
    columns = {f"f{j}": pl.Series(names[codes[:, j]]).cast(pl.Categorical)
               for j in range(codes.shape[1])}
    return pl.DataFrame(columns).with_columns(err=pl.Series(errors))


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run_evenhand(rows: int, features: int, config: str) -> dict:
    import evenhand

    frame = _as_frame(*make_data(rows, features))
    names = [c for c in frame.columns if c != "err"]
    # warm-up: the first call imports scipy.stats and friends; time the search only
    evenhand.find_slices(frame.head(100), features=names[:2], loss="err", **CONFIGS[config])
    before = _rss_now_mb()
    start, cpu = time.perf_counter(), time.process_time()
    result, info = evenhand.find_slices(frame, features=names, loss="err", max_order=3,
                                        return_stats=True, **CONFIGS[config])
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    slices = result["slice"].to_list()
    return {
        "wall_s": wall, "cpu_s": cpu, "rss_before_mb": before,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "evaluated": info.candidates_evaluated, "lattice": info.lattice_size,
        "feature_sets": info.feature_sets_scanned, "per_level": info.candidates_per_level,
        "found": len(slices), "planted_rank": slices.index(PLANTED) + 1 if PLANTED in slices
        else None, "top_scores": result["score"].to_list()[:3],
    }


def run_sliceline(rows: int, features: int, alpha: float) -> dict:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    from sliceline.slicefinder import Slicefinder

    codes, errors = make_data(rows, features)
    start = time.perf_counter()
    finder = Slicefinder(alpha=alpha, k=10, max_l=3, min_sup=32, verbose=False)
    finder.fit(codes.astype(np.int64), errors)
    wall = time.perf_counter() - start
    scores = [s["slice_score"] for s in finder.top_slices_statistics_]
    return {"wall_s": wall, "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            / 1024, "found": len(scores), "top_scores": scores[:3]}


def _child(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--child", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"failed": f"timeout after {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": f"exit {done.returncode}: {last[:90]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run at 1e4 rows")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, rows, features, config = args.child
        out = (run_evenhand(int(rows), int(features), config) if tool == "evenhand"
               else run_sliceline(int(rows), int(features), float(config)))
        print(json.dumps(out))
        return
    rows = 10_000 if args.quick else 1_000_000
    print(f"find_slices, {rows:,} rows x 20 categorical features of 10 levels, max_order=3, "
          "min_support=32, top_k=10 (timings are noisy: other jobs share the 2 cores)")
    for config in CONFIGS:
        r = _child(["evenhand", str(rows), "20", config], timeout=600)
        if "failed" in r:
            print(f"  {config:26s} FAILED {r['failed']}")
            continue
        print(f"  {config:26s} {r['wall_s']:6.2f} s (CPU {r['cpu_s']:5.2f} s)  "
              f"peak RSS {r['rss_peak_mb']:5.0f} MB "
              f"({r['rss_before_mb']:.0f} MB before the call)  evaluated {r['evaluated']:,} of "
              f"{r['lattice']:,} ({r['evaluated'] / r['lattice']:.1%}), per level "
              f"{r['per_level']}, {r['feature_sets']} feature sets scanned; "
              f"{r['found']} slices, planted rank {r['planted_rank']}")
    try:
        import sliceline  # noqa: F401
    except ImportError:
        print("sliceline is not installed: peer comparison skipped (pip install sliceline)")
        return
    sizes = [(10_000, 8)] if args.quick else [(10_000, 20), (10_000, 8), (100_000, 8)]
    print("PyPI sliceline (sparse linear algebra), same data, alpha=0.999, capped at 4 GiB:")
    for n, features in sizes:
        ours = _child(["evenhand", str(n), str(features), "score a=0.999"], timeout=300)
        theirs = _child(["sliceline", str(n), str(features), "0.999"], timeout=300)
        where = f"{n:>9,} rows x {features} features"
        if "failed" in theirs:
            print(f"  {where}: sliceline FAILED ({theirs['failed']}); evenhand "
                  f"{ours['wall_s']:.2f} s")
            continue
        same = np.allclose(ours["top_scores"], theirs["top_scores"], rtol=1e-9)
        print(f"  {where}: sliceline {theirs['wall_s']:.2f} s ({theirs['rss_peak_mb']:.0f} "
              f"MB), evenhand {ours['wall_s']:.2f} s ({ours['rss_peak_mb']:.0f} MB), ratio "
              f"{theirs['wall_s'] / ours['wall_s']:.1f}x; same top scores: {same}")


if __name__ == "__main__":
    main()
