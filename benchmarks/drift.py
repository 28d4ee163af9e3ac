"""Data drift of 25 columns: mloop against a stored reference profile, Evidently, a numpy floor.

    python benchmarks/drift.py                                    # 100,000 and 1,000,000 rows
    python benchmarks/drift.py --rows 1000000 --peer-python /tmp/evidently-venv/bin/python
    python benchmarks/drift.py --smoke                            # toy run: checks the script works

The same reference and current tables, 20 numeric and 5 categorical columns, written once to
Parquet in a temporary folder. Drifted by construction: 5 numeric columns shifted by 0.2-0.5
standard deviations (num_00..num_04) and 2 categoricals with 15 and 5 points of one level's
share moved to another (cat_0, cat_1); the other 18 columns are drawn from the same
distributions on both sides.

Sides, each in its own process, so its peak RSS (wait4's ru_maxrss) is its own:

- mloop: the reference added as a dataset version beforehand (``mloop data add`` computes and
  stores its profile; not timed), then the drift of the current Parquet file against that stored
  profile, timed twice as a user pays it: ``mloop.drift(...)`` called in a fresh interpreter
  (the call alone: read, profile, tests; imports shown apart), and the ``mloop drift NAME@1
  current.parquet --json`` command, interpreter start-up included;
- evidently: ``Report([DataDriftPreset()])`` over both tables read with pandas (the peer, from
  the bench extra; it pins an older pandas than mloop, so ``--peer-python`` may point at another
  interpreter; skipped with a note when no interpreter has it). Column kinds are declared, not
  guessed;
- numpy floor: both files read with pyarrow; per numeric column 100 bins on the reference's
  quantiles, one ``np.histogram`` per side, PSI and a normalised Wasserstein distance from the
  binned CDFs; per categorical, counts of the dictionary codes (``np.bincount``) and the
  Jensen-Shannon distance. Nothing checked, nothing stored: the least any tool must do.

Targets at 1,000,000 rows (issue 15): mloop >= 50x faster than Evidently, <= 1.5x the numpy floor,
peak memory <= 1/4 of Evidently's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

NUMERIC = [f"num_{i:02d}" for i in range(20)]
CATEGORICAL = [f"cat_{i}" for i in range(5)]
SHIFT_SD = {"num_00": 0.2, "num_01": 0.275, "num_02": 0.35, "num_03": 0.425, "num_04": 0.5}
SHIFT_POINTS = {"cat_0": 0.15, "cat_1": 0.05}
LEVELS = {"cat_0": 3, "cat_1": 4, "cat_2": 2, "cat_3": 10, "cat_4": 30}
DATASET = "reference"
TARGET_VS_PEER = 50.0
TARGET_VS_FLOOR = 1.5
TARGET_MEMORY = 0.25


# ------------------------------------------------------------------------------------ the data


def make_table(rows: int, *, seed: int, shifted: bool) -> Any:
    """A pyarrow table of the 25 columns; ``shifted`` applies the drifts listed above."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for i, name in enumerate(NUMERIC):
        kind = i % 4
        if kind == 0:
            values, sd = rng.normal(50 + i, 10 + i, rows), 10.0 + i
        elif kind == 1:
            values, sd = (
                rng.lognormal(3.0, 0.5, rows),
                float(np.sqrt((np.e**0.25 - 1) * np.e**6.25)),
            )
        elif kind == 2:  # whole months, like tenure
            values, sd = rng.integers(0, 73, rows).astype(np.float64), 73 / np.sqrt(12)
        else:
            values, sd = rng.uniform(0, 100, rows), 100 / np.sqrt(12)
        if shifted and name in SHIFT_SD:
            values = values + SHIFT_SD[name] * sd
            if kind == 2:
                values = np.round(values)
        if i % 5 == 4:  # a few columns with 1% missing values
            values[rng.random(rows) < 0.01] = np.nan
        columns[name] = pa.array(values, from_pandas=True)
    for name in CATEGORICAL:
        count = LEVELS[name]
        weights = np.linspace(2.0, 1.0, count)
        share = weights / weights.sum()
        if shifted and name in SHIFT_POINTS:
            share[0] -= SHIFT_POINTS[name]
            share[1] += SHIFT_POINTS[name]
        levels = np.array([f"{name}_level_{k}" for k in range(count)])
        columns[name] = pa.array(levels[rng.choice(count, rows, p=share)])
    return pa.table(columns)


def write_tables(folder: Path, rows: int) -> tuple[Path, Path]:
    import pyarrow.parquet as pq

    reference, current = folder / "reference.parquet", folder / "current.parquet"
    pq.write_table(make_table(rows, seed=0, shifted=False), reference)
    pq.write_table(make_table(rows, seed=1, shifted=True), current)
    return reference, current


# ------------------------------------------------------------------- the sides (child processes)


def side_floor(reference: Path, current: Path) -> dict[str, Any]:
    import pyarrow.dataset  # noqa: F401  (read_table's first call imports it: an import, not work)
    import pyarrow.parquet as pq

    began = time.perf_counter()  # imports excluded, as for every side
    ref = pq.read_table(reference, read_dictionary=CATEGORICAL)
    cur = pq.read_table(current, read_dictionary=CATEGORICAL)
    read = time.perf_counter()
    drifted: list[str] = []
    scores: dict[str, float] = {}
    for name in NUMERIC:
        r = ref.column(name).to_numpy()
        c = cur.column(name).to_numpy()
        r, c = r[~np.isnan(r)], c[~np.isnan(c)]
        edges = np.unique(np.quantile(r, np.linspace(0.0, 1.0, 101)))
        edges[0] = min(edges[0], c.min())
        edges[-1] = max(edges[-1], c.max())
        pr = np.histogram(r, edges)[0] / r.size
        pc = np.histogram(c, edges)[0] / c.size
        psi = float(np.sum((pc - pr) * np.log(np.maximum(pc, 1e-6) / np.maximum(pr, 1e-6))))
        inner = np.diff(edges)[1:-1]  # the outer bins' widths are the data's range, not its shape
        cdf_gap = np.abs(np.cumsum(pr) - np.cumsum(pc))[:-1]
        wasserstein = float(np.sum(cdf_gap[1:] * inner) / max(float(np.std(r)), 1e-12))
        scores[name] = wasserstein
        if wasserstein >= 0.1:
            drifted.append(name)
        scores[f"{name}.psi"] = psi
    for name in CATEGORICAL:
        rc, cc = ref.column(name).combine_chunks(), cur.column(name).combine_chunks()
        counts: dict[str, np.ndarray] = {}
        for side, col in (("r", rc), ("c", cc)):
            levels = col.dictionary.to_pylist()
            tally = np.bincount(col.indices.to_numpy(zero_copy_only=False), minlength=len(levels))
            counts[side] = tally
            counts[side + "_levels"] = np.array(levels, dtype=object)
        names = sorted(set(counts["r_levels"]) | set(counts["c_levels"]))
        pr = _align(names, counts["r_levels"], counts["r"])
        pc = _align(names, counts["c_levels"], counts["c"])
        js = _jensen_shannon(pr / pr.sum(), pc / pc.sum())
        scores[name] = js
        if js >= 0.1:
            drifted.append(name)
    done = time.perf_counter()
    return {
        "read_s": read - began,
        "drift_s": done - read,
        "call_s": done - began,
        "drifted": drifted,
        "scores": scores,
    }


def _align(names: list[str], levels: np.ndarray, counts: np.ndarray) -> np.ndarray:
    index = {level: i for i, level in enumerate(levels)}
    return np.array([counts[index[n]] if n in index else 0 for n in names], dtype=np.float64)


def _jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """scipy.spatial.distance.jensenshannon with its default natural log, as Evidently uses."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return float(np.sqrt(max((kl_p + kl_q) / 2, 0.0)))


def side_evidently(reference: Path, current: Path) -> dict[str, Any]:
    import evidently
    import pandas as pd

    try:  # evidently >= 0.7
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    except ImportError:
        modern = False
    else:
        modern = True
    began = time.perf_counter()
    ref = pd.read_parquet(reference)
    cur = pd.read_parquet(current)
    read = time.perf_counter()
    if not modern:
        drifted = _evidently_legacy(ref, cur)
    else:
        definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
        snapshot = Report([DataDriftPreset()]).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
        result = snapshot.dict()
        drifted = _evidently_drifted(result)
        counted = [m["value"]["count"] for m in result["metrics"] if "count" in str(m["value"])]
        if counted and int(counted[0]) != len(drifted):
            raise RuntimeError(f"Evidently counted {counted[0]} drifted, the columns say {drifted}")
    done = time.perf_counter()
    return {
        "read_s": read - began,
        "drift_s": done - read,
        "call_s": done - began,
        "drifted": drifted,
        "version": evidently.__version__,
        "pandas": pd.__version__,
    }


def _evidently_drifted(result: dict[str, Any]) -> list[str]:
    """The columns Evidently 0.7 calls drifted: each ValueDrift metric's score against the
    threshold and direction of its method (p-values drift below, distances above)."""
    drifted = []
    for metric in result["metrics"]:
        config = metric.get("config", {})
        if config.get("type", "").rsplit(":", 1)[-1] != "ValueDrift":
            continue
        score, threshold = float(metric["value"]), float(config.get("threshold") or 0.0)
        method = str(config.get("method") or "")
        is_test = "p_value" in method or "test" in method.lower() or threshold <= 0.05
        if score < threshold if is_test else score >= threshold:
            drifted.append(config["column"])
    return drifted


def _evidently_legacy(ref: Any, cur: Any) -> list[str]:
    from evidently import ColumnMapping
    from evidently.metric_preset import DataDriftPreset
    from evidently.report import Report

    report = Report(metrics=[DataDriftPreset()])
    mapping = ColumnMapping(numerical_features=NUMERIC, categorical_features=CATEGORICAL)
    report.run(reference_data=ref, current_data=cur, column_mapping=mapping)
    for metric in report.as_dict()["metrics"]:
        by_column = metric.get("result", {}).get("drift_by_columns")
        if by_column:
            return [name for name, r in by_column.items() if r["drift_detected"]]
    return []


def side_mloop_setup(reference: Path, workspace: Path) -> dict[str, Any]:
    """The workspace and the reference's dataset version (its profile stored): not timed."""
    import mloop
    from mloop.workspace import Workspace

    Workspace.init(workspace, environ={})[0].close()
    began = time.perf_counter()
    version = mloop.add_dataset(DATASET, reference, workspace=workspace)
    return {"add_s": time.perf_counter() - began, "version": version.version}


def side_mloop(current: Path, workspace: Path, ref: str) -> dict[str, Any]:
    """``mloop.drift`` when the public API has it, else the services ``mloop drift`` calls.

    Imports (mloop's drift stack: pandas, scipy) are timed apart from the call, as a notebook
    pays them once; the CLI row below pays everything."""
    import importlib

    began = time.perf_counter()
    import mloop

    for module in ("mloop.monitoring.drift", "mloop.monitoring.sources", "mloop.predlog"):
        importlib.import_module(module)
    api = "drift" in getattr(mloop, "__all__", ())
    entry = mloop.drift if api else None  # type: ignore[attr-defined]
    imported = time.perf_counter()
    if entry is not None:
        report = entry(ref, str(current), workspace=workspace)
    else:
        from mloop.monitoring.drift import compare
        from mloop.monitoring.sources import sides
        from mloop.predlog import folder_for
        from mloop.workspace import Workspace

        with Workspace.open(workspace, environ={}) as ws:
            reference, cur = sides(ref, str(current), ws.store, folder_for(ws.settings))
            report = compare(reference, cur)
    done = time.perf_counter()
    return {
        "import_s": imported - began,
        "call_s": done - imported,
        "entry": "mloop.drift" if api else "services of `mloop drift`",
        "drifted": _names(getattr(report, "drifted_columns", [])),
    }


def _names(drifted: Any) -> list[str]:
    if isinstance(drifted, int):
        return [f"#{i}" for i in range(drifted)]
    return [d if isinstance(d, str) else str(getattr(d, "column", d)) for d in drifted]


# -------------------------------------------------------------------------------- the parent


def run_child(argv: list[str], scratch: Path, ok: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Run one process: its wall time from launch, peak RSS (MiB), CPU and its stdout."""
    out, err = scratch / "stdout", scratch / "stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    env["PYTHONWARNINGS"] = "ignore"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env, cwd=scratch)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in ok:
        raise RuntimeError(f"{' '.join(argv[:6])} exited {code}: {err.read_text()[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "stdout": out.read_text(),
        "exit": code,
    }


def child(
    python: str, side: str, scratch: Path, *paths: Path, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    argv = [python, __file__, "--side", side, *(str(p) for p in paths), *extra]
    proc = run_child(argv, scratch)
    result: dict[str, Any] = json.loads(proc.pop("stdout").strip().splitlines()[-1])
    return {**proc, **result}


def find_peer(explicit: str | None) -> str | None:
    """An interpreter that imports evidently: the one given, else this one, else None."""
    for python in [explicit] if explicit else [sys.executable]:
        done = subprocess.run(
            [python, "-c", "import evidently"], capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            return python
        print(f"note: {python} cannot import evidently: {done.stderr.strip().splitlines()[-1:]}")
    return None


def mloop_available() -> bool:
    if importlib.util.find_spec("mloop") is None:
        return False
    return importlib.util.find_spec("mloop.monitoring.sources") is not None


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def row(name: str, r: dict[str, Any], call: float | None, note: str = "") -> str:
    call_text = f"{call:10.3f}" if call is not None else f"{'-':>10}"
    return (
        f"{name:<26}{call_text}{r['wall_s']:10.2f}{r['cpu_s']:9.2f}{r['peak_mib']:10.0f}"
        f"{len(r['drifted']):>9}   {note}"
    )


def _cli_run(command: list[str], scratch: Path) -> dict[str, Any]:
    """One ``mloop drift`` command; ``call_s`` is its wall time, so ``repeated`` ranks by it."""
    cli = run_child(command, scratch, ok=(0, 1))
    report = json.loads(cli.pop("stdout"))
    cli["drifted"] = _names(report.get("drifted_columns", []))
    cli["call_s"] = cli["wall_s"]
    return cli


def repeated(times: int, run: Any) -> dict[str, Any]:
    """The run with the median in-process time of ``times`` (each shown), peak RSS the highest."""
    runs = [run() for _ in range(max(times, 1))]
    middle = dict(sorted(runs, key=lambda r: r["call_s"])[len(runs) // 2])
    middle["peak_mib"] = max(r["peak_mib"] for r in runs)
    middle["calls"] = [r["call_s"] for r in runs]
    return middle


def spread(r: dict[str, Any]) -> str:
    calls = r.get("calls", [])
    if len(calls) < 2:
        return ""
    return f"; median of {len(calls)}: " + ", ".join(f"{c:.3f}" for c in calls) + " s"


def bench(rows: int, peer: str | None, scratch: Path, repeat: int) -> None:
    began = time.perf_counter()
    reference, current = write_tables(scratch, rows)
    size = (reference.stat().st_size + current.stat().st_size) / 2**20
    print(
        f"\n{rows:,} rows a side, 20 numeric + 5 categorical columns; both Parquet files "
        f"{size:.0f} MiB (written in {time.perf_counter() - began:.1f} s); load {load()}"
    )
    print("drifted by construction: 7 (num_00..num_04 by 0.2-0.5 sd; cat_0 15 points, cat_1 5)")
    for path in (reference, current):  # the files into the page cache
        path.read_bytes()
    header = (
        f"{'side':<26}{'call (s)':>10}{'proc (s)':>10}{'CPU (s)':>9}{'peak MiB':>10}"
        f"{'drifted':>9}   load / note"
    )
    print(header)
    results: dict[str, dict[str, Any]] = {}

    floor = repeated(repeat, lambda: child(sys.executable, "floor", scratch, reference, current))
    results["floor"] = floor
    print(
        row(
            "numpy floor",
            floor,
            floor["call_s"],
            f"load {load()}; read {floor['read_s']:.3f} s + bins/PSI/JS {floor['drift_s']:.3f} s"
            f"{spread(floor)}",
        )
    )

    if mloop_available():
        workspace = scratch / "ws"
        setup = child(sys.executable, "mloop-setup", scratch, reference, workspace)
        ref = f"{DATASET}@{setup['version']}"
        api = repeated(
            repeat,
            lambda: child(
                sys.executable, "mloop", scratch, current, workspace, extra=("--ref", ref)
            ),
        )
        results["mloop"] = api
        print(
            row(
                "mloop in-process",
                api,
                api["call_s"],
                f"load {load()}; {api['entry']}, the call alone; imports {api['import_s']:.3f} s more"
                f"{spread(api)}",
            )
        )
        command = [sys.executable, "-m", "mloop", "--workspace", str(workspace)]
        command += ["drift", ref, str(current), "--json"]
        cli = repeated(repeat, lambda: _cli_run(command, scratch))
        results["cli"] = cli
        print(
            row(
                "mloop drift --json (CLI)",
                cli,
                None,
                f"load {load()}; the whole command, start-up included; exit {cli['exit']}"
                + spread(cli).replace("median of", "wall, median of"),
            )
        )
        print(f"  (untimed: the reference's data add took {setup['add_s']:.2f} s, profile stored)")
    else:
        print(f"{'mloop':<26}   not run: mloop drift is not on this checkout yet (issue 15)")

    if peer:
        ev = child(peer, "evidently", scratch, reference, current)
        results["evidently"] = ev
        print(
            row(
                "evidently DataDriftPreset",
                ev,
                ev["call_s"],
                f"load {load()}; read {ev['read_s']:.2f} s + report {ev['drift_s']:.2f} s "
                f"(evidently {ev['version']}, pandas {ev['pandas']})",
            )
        )
    else:
        print(f"{'evidently':<26}   not run: no interpreter with evidently (--peer-python)")

    for name, r in results.items():
        print(f"  {name} drifted: {', '.join(sorted(r['drifted'])) or 'none'}")
    _ratios(results, rows)


def _ratios(results: dict[str, dict[str, Any]], rows: int) -> None:
    mloop, cli, floor, ev = (results.get(k) for k in ("mloop", "cli", "floor", "evidently"))
    at_target = rows >= 1_000_000
    scope = "" if at_target else " (targets are for 1,000,000 rows)"
    if mloop and ev:
        ratio = ev["call_s"] / mloop["call_s"]
        verdict = "met" if ratio >= TARGET_VS_PEER else "NOT met"
        print(
            f"ratio evidently / mloop, in-process: {ratio:,.1f}x; target >= {TARGET_VS_PEER:.0f}x: "
            f"{verdict}{scope}"
        )
        if cli:
            print(
                f"ratio evidently / mloop, whole processes (CLI with start-up): "
                f"{ev['wall_s'] / cli['wall_s']:,.1f}x"
            )
        share = mloop["peak_mib"] / ev["peak_mib"]
        verdict = "met" if share <= TARGET_MEMORY else "NOT met"
        print(
            f"peak memory mloop / evidently: {share:.2f} ({mloop['peak_mib']:.0f} / "
            f"{ev['peak_mib']:.0f} MiB); target <= {TARGET_MEMORY}: {verdict}{scope}"
        )
        if cli:
            print(f"peak memory mloop CLI / evidently: {cli['peak_mib'] / ev['peak_mib']:.2f}")
    if mloop and floor:
        ratio = mloop["call_s"] / floor["call_s"]
        verdict = "met" if ratio <= TARGET_VS_FLOOR else "NOT met"
        print(
            f"ratio mloop / numpy floor, in-process: {ratio:.2f}x; target <= {TARGET_VS_FLOOR}x: "
            f"{verdict}{scope}"
        )
    if ev and floor:
        print(f"ratio evidently / numpy floor: {ev['call_s'] / floor['call_s']:,.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, action="append", help="rows a side (repeatable); default 100k and 1M"
    )
    parser.add_argument("--peer-python", help="an interpreter with evidently (default: this one)")
    parser.add_argument("--smoke", action="store_true", help="5,000 rows; peers skipped if absent")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of the floor and mloop sides (median shown)"
    )
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--ref", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    # A pip-installed mloop has its bytecode compiled at install. With this variable set (some
    # sandboxes set it) every timed mloop process would recompile mloop's sources: no user pays that.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False

    if args.side:  # a child: one side, one JSON line
        sides = {
            "floor": lambda: side_floor(*args.paths),
            "evidently": lambda: side_evidently(*args.paths),
            "mloop-setup": lambda: side_mloop_setup(*args.paths),
            "mloop": lambda: side_mloop(*args.paths, args.ref),
        }
        print(json.dumps(sides[args.side]()))
        return

    rows = [5_000] if args.smoke else args.rows or [100_000, 1_000_000]
    print(
        f"drift: {os.cpu_count()} cores, Python {platform.python_version()}, numpy "
        f"{np.__version__}; load {load()} (1-minute average; other sessions share the cores)"
    )
    peer = find_peer(args.peer_python)
    for n in rows:
        with tempfile.TemporaryDirectory(prefix="mloop-drift-bench-") as folder:
            bench(n, peer, Path(folder), 1 if args.smoke else args.repeat)


if __name__ == "__main__":
    main()
