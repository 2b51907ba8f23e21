"""Time writing the self-contained HTML report of a large audit.

Synthetic data: N rows, race (6 groups) × sex (2), a label and a continuous score in [0, 1]
(decision ``score ≥ 0.5``), so the report has every section: summary, rates, four-fifths
chart, threshold explorer, ROC and calibration curves, trade-offs and group sizes. Measured in
one run:

- the audit itself (for scale; not part of the report time);
- ``Audit.to_html`` cold (first report in the process: imports altair, builds vl-convert's
  JavaScript bundle) and warm (second report);
- a peer reference: altair's own ``Chart.save(..., format="html", inline=True)`` of a single
  chart, which also inlines vl-convert's bundle.

Peak memory is the peak resident set size above the level before the step (sampled every
2 ms). The report's time and size do not depend on N: it is built from the per-group
statistics only. Usage: ``python benchmarks/report_speed.py [--rows 10000000] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from _measure import measure

import evenhand

RACES = np.array(["African-American", "Caucasian", "Hispanic", "Asian", "Native American",
                  "Other"])
SHARES = [0.45, 0.34, 0.12, 0.05, 0.01, 0.03]
SEXES = np.array(["Female", "Male"])


def make_data(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    race = rng.choice(len(RACES), size=n, p=SHARES)
    sex = rng.integers(0, 2, size=n)
    shift = 0.4 * (race == 0) + 0.2 * sex
    y = (rng.random(n) < 0.3 + 0.2 * shift).astype(np.int8)
    score = 1.0 / (1.0 + np.exp(-(rng.standard_normal(n) + 1.2 * y + shift - 0.6)))
    return pl.DataFrame({
        "race": pl.Series(RACES[race]).cast(pl.Categorical),
        "sex": pl.Series(SEXES[sex]).cast(pl.Categorical),
        "y": y, "score": score,
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e7)
    parser.add_argument("--quick", action="store_true", help="1e5 rows, a smoke run")
    parser.add_argument("--fresh-cache", action="store_true",
                        help="empty bundle cache: the cold time includes building the bundle")
    args = parser.parse_args()
    if args.fresh_cache:
        os.environ["EVENHAND_CACHE_DIR"] = tempfile.mkdtemp(prefix="evenhand-cache-")
    n = 100_000 if args.quick else int(args.rows)
    df = make_data(n)
    out = Path(tempfile.mkdtemp(prefix="evenhand-report-"))

    t_audit, m_audit, result = measure(lambda: evenhand.audit(
        df, y_true="y", y_score="score", threshold=0.5, sensitive=["race", "sex"], seed=0))
    t_cold, m_cold, _ = measure(lambda: result.to_html(out / "cold.html"))
    t_warm, m_warm, _ = measure(lambda: result.to_html(out / "warm.html"))
    size = (out / "warm.html").stat().st_size

    chart = result.chart("selection_rate")
    t_peer, m_peer, _ = measure(lambda: chart.save(str(out / "altair.html"), format="html",
                                                   inline=True))
    peer_size = (out / "altair.html").stat().st_size

    mb = 1024 * 1024
    print(f"rows: {n:,}   groups: race × sex = {len(result.levels[0].count)}")
    print(f"{'step':<44}{'wall s':>9}{'peak MB':>10}")
    print(f"{'audit (not part of the report)':<44}{t_audit:>9.2f}{m_audit / mb:>10.0f}")
    cold = "evenhand to_html, cold" + (" (builds bundle)" if args.fresh_cache else "")
    print(f"{cold:<44}{t_cold:>9.2f}{m_cold / mb:>10.0f}")
    print(f"{'evenhand to_html, warm':<44}{t_warm:>9.2f}{m_warm / mb:>10.0f}")
    print(f"{'altair Chart.save(inline=True), 1 chart':<44}{t_peer:>9.2f}{m_peer / mb:>10.0f}")
    print(f"report: {size / mb:.2f} MB with 11 charts and their tables "
          f"(altair's one-chart page: {peer_size / mb:.2f} MB)")
    print(f"ratio warm report / altair one-chart save: {t_warm / t_peer:.2f}")
    print(f"target: cold report under 5 s -> {'met' if t_cold < 5 else 'NOT met'}")
    print(f"files in {out}")


if __name__ == "__main__":
    main()
