"""Where the benchmarks put their figures: one JSON file that every script adds to, and
the table `make bench` prints from it at the end.

    python bench/results.py            # print the table of the last runs

Each figure is a ratio against its baseline measured in the same run (or, for start-up
time and memory, an absolute value beside the baseline's), with the goal it is held to
(at least, or at most) and the raw values it came from."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(os.environ.get("FERMION_BENCH_RESULTS", "build/bench/results.json"))


def record(
    key: str,
    measure: str,
    value: float,
    goal: float,
    *,
    at_most: bool = False,
    ours: float | None = None,
    baseline: float | None = None,
    unit: str = "",
) -> None:
    """Add (or replace) one figure in the results file."""
    results = load()
    results[key] = {
        "measure": measure,
        "value": round(value, 3),
        "goal": goal,
        "at_most": at_most,
        "met": value <= goal if at_most else value >= goal,
        "ours": ours,
        "baseline": baseline,
        "unit": unit,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    temporary = RESULTS.with_suffix(".tmp")
    temporary.write_text(json.dumps(results, indent=2))
    temporary.replace(RESULTS)


def load() -> dict[str, dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.exists() else {}


def main() -> int:
    results = load()
    if not results:
        print(f"no results in {RESULTS}: run `make bench`")
        return 1
    print(f"\n{'measure':<72}{'ours':>12}{'baseline':>12}{'value':>8}{'goal':>9}  met  measured")
    for figure in results.values():
        goal = ("<= " if figure["at_most"] else ">= ") + f"{figure['goal']:g}"
        ours = "" if figure["ours"] is None else f"{figure['ours']:,.1f}"
        baseline = "" if figure["baseline"] is None else f"{figure['baseline']:,.1f}"
        # when it was measured, so that a figure kept from an older run stands out
        measured = figure["measured_at"].replace("T", " ")[5:16]
        print(
            f"{figure['measure']:<72} {ours:>11} {baseline:>11}{figure['value']:>8.2f}"
            f"{goal:>9}  {'yes' if figure['met'] else 'NO ':<3}  {measured}"
        )
    print(f"\n(written to {RESULTS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
