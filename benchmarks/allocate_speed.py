"""Time evenhand.allocate's exact quota method against scipy's HiGHS MILP, rule by rule.

Population: ``make_services_population`` (five groups), capacity 10 % of the people,
tolerance 0.01 (max_min: 1 % below the best worst-group mean; shares: min_share 0.1).

- evenhand (method="quota", exact) at ``--n`` people (default 1e6);
- evenhand and ``scipy.optimize.milp`` (HiGHS, mip_rel_gap=0, via evenhand's generic x_i
  formulation, ``method="milp"``) at ``--milp-n`` people (default 1e4), same objective
  checked, speed ratio printed.

Every solve runs in a fresh process: wall time of the ``allocate`` call (column collection,
sorting and solve) and peak memory = peak RSS during the call minus RSS before it (covers
numpy and HiGHS alike). Other jobs share this machine's cores, so timings are noisy.

    .venv/bin/python benchmarks/allocate_speed.py            # full size
    .venv/bin/python benchmarks/allocate_speed.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import time
from concurrent.futures import ProcessPoolExecutor

RULES = {
    "none": {},
    "parity": {"constraint": "parity", "tolerance": 0.01},
    "proportional": {"constraint": "proportional", "tolerance": 0.01},
    "equal_opportunity": {"constraint": "equal_opportunity", "tolerance": 0.01, "need": "need"},
    "max_min": {"constraint": "max_min", "tolerance": 0.01},
    "shares": {"constraint": "shares", "min_share": 0.1},
}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _job(n: int, rule: str, method: str, time_limit: float | None) -> dict:
    import evenhand
    from evenhand.datasets import make_services_population

    people = make_services_population(n, seed=0).select("benefit", "group", "need")
    evenhand.allocate(people.head(50), benefit="benefit", group="group", capacity=5,
                      method=method)  # warm imports
    before = _rss_mb()
    start = time.perf_counter()
    try:
        result = evenhand.allocate(people, benefit="benefit", group="group", capacity=n // 10,
                                   method=method, time_limit=time_limit, **RULES[rule])
    except evenhand.EvenhandError as exc:  # infeasible rule, or no MILP point in time_limit
        status = "infeasible" if "infeasible" in str(exc) else "no solution"
        return {"wall": time.perf_counter() - start, "peak_mb": float("nan"),
                "benefit": float("nan"), "status": status, "served": 0}
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    return {"wall": wall, "peak_mb": max(peak, 0.0), "benefit": result.total_benefit,
            "status": result.status, "served": result.served}


def run(n: int, rule: str, method: str, time_limit: float | None = None) -> dict:
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(_job, n, rule, method, time_limit).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--n", type=float, default=1e6, help="people for evenhand alone")
    parser.add_argument("--milp-n", type=float, default=1e4,
                        help="people for the MILP race (0: skip it)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="MILP seconds per rule")
    parser.add_argument("--rules", default=",".join(RULES), help="comma-separated rules")
    args = parser.parse_args()
    n, milp_n = (20_000, 1_000) if args.quick else (int(args.n), int(args.milp_n))
    time_limit = 10.0 if args.quick else args.time_limit
    rules = args.rules.split(",")

    print(f"evenhand quota method at n={n:,} (5 groups, capacity 10%)")
    print(f"{'rule':<18}{'wall s':>9}{'peak MB':>10}{'served':>10}{'benefit':>14}  status")
    for rule in rules:
        r = run(n, rule, "quota")
        print(f"{rule:<18}{r['wall']:>9.3f}{r['peak_mb']:>10.1f}{r['served']:>10,}"
              f"{r['benefit']:>14.4f}  {r['status']}")

    if milp_n <= 0:  # --milp-n 0: evenhand alone (e.g. --n 1e7)
        return
    print(f"\nsame objective at n={milp_n:,}: evenhand quota vs scipy.optimize.milp (HiGHS)")
    print(f"{'rule':<18}{'quota s':>9}{'MB':>7}{'milp s':>10}{'MB':>7}{'speed-up':>10}"
          f"{'|Δ benefit|':>13}  milp status")
    for rule in rules:
        q = run(milp_n, rule, "quota")
        if q["status"] == "infeasible":
            print(f"{rule:<18} infeasible at this size (rates/shares cannot be met)")
            continue
        m = run(milp_n, rule, "milp", time_limit)
        gap = abs(q["benefit"] - m["benefit"])
        bound = ">" if m["status"] != "optimal" else " "  # stopped early: a lower bound
        print(f"{rule:<18}{q['wall']:>9.4f}{q['peak_mb']:>7.1f}{m['wall']:>10.2f}"
              f"{m['peak_mb']:>7.1f}{bound}{m['wall'] / q['wall']:>8.0f}×{gap:>13.2e}"
              f"  {m['status']}")
    print("(milp stopped at the time limit: '>' marks a lower bound on the speed-up, and its "
          "benefit is the best it found)")


if __name__ == "__main__":
    main()
