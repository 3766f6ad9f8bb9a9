"""`make bench`: run the benchmarks on a scratch database and write docs/benchmarks.md.

`python bench/run.py bench_api` runs one; the others keep their last results (docs/benchmarks.json).

Each benchmark reports its figures next to a baseline measured in the same run.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("bench_api", "bench_scheduler", "bench_network", "bench_controlplane", "bench_glass")


def setup_django(tmp: Path) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "web.settings")
    os.environ.setdefault("KUBEGLASS_SQLITE_PATH", str(tmp / "bench.sqlite3"))
    # A 10,000-pod Deployment leaves ~40,000 Events behind: more than the demo server's per-cluster cap.
    os.environ.setdefault("KUBEGLASS_MAX_OBJECTS_PER_CLUSTER", "500000")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


# What to read each table against; kept free of figures, which change with every run.
NOTES = {
    "bench_scheduler": (
        "Pods scheduled per second by `cluster.scheduler` alone. The baseline loop only sums each "
        "node's requested CPU, so the ratio between the two is the figure to compare across machines: "
        "this machine's speed moves both."
    ),
    "bench_controlplane": (
        "`e2e_pods_per_s` is a 10,000-replica Deployment from create to every pod Running, through "
        "every loop and the API server: the fastest of three runs on fresh clusters, every run listed "
        "in `e2e_runs_pods_per_s`; each baseline is likewise the fastest of its runs. `store_replay_pods_per_s` replays that run's own writes (the "
        "same bodies, watch events and trace steps, in the same group commits) through the store "
        "alone: it is the most this workload can reach on this disk if the loops cost nothing. "
        "`store_replay_mb_of_bodies` is those bodies as JSON; most of it is the scheduler's decision "
        "annotations, three maps over every node on every pod, which the store keeps packed. "
        "`machine_calibration_per_s` is a fixed JSON-and-SQLite workload that uses none of the project's "
        "code, run before the first run and after each: the baseline to compare runs of different code on a machine whose "
        "speed changes by the hour."
    ),
}


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py). Each figure stands next to a baseline measured in the same run",
        "on the same machine; the ratios are what to compare across machines.",
        "",
        f"Last run: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} on {platform.machine()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPU(s), database {os.environ.get('DATABASE_URL', 'SQLite (WAL)')}.",
        "",
    ]
    for name, figures in results.items():
        lines += [f"## {name}", ""]
        if name in NOTES:
            lines += [NOTES[name], ""]
        lines += ["| figure | value |", "| --- | --- |"]
        if isinstance(figures, dict):
            for key, value in figures.items():
                lines.append(f"| {key} | {json.dumps(value) if isinstance(value, dict | list) else value} |")
        else:
            lines.append(f"| result | {figures} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    only = set(argv[1:])
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(Path(tmp))
        sys.path.insert(0, str(ROOT / "bench"))
        for name in BENCHES:
            if only and name not in only:
                continue
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                results[name] = f"not available: {exc}"
                continue
            t0 = time.perf_counter()
            figures = module.main()
            figures["wall_seconds"] = round(time.perf_counter() - t0, 1)
            results[name] = figures
            print(name, json.dumps(figures), flush=True)
    # Results of benchmarks not run this time are kept from the last run that had them.
    store = ROOT / "docs" / "benchmarks.json"
    merged = json.loads(store.read_text()) if store.exists() else {}
    merged.update(results)
    store.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    (ROOT / "docs" / "benchmarks.md").write_text(render({k: merged[k] for k in BENCHES if k in merged}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
