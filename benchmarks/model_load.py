"""The churn pipeline as a skops artifact vs its ONNX export: load time and single-row latency.

    python benchmarks/model_load.py              # 2,000 single-row calls each
    python benchmarks/model_load.py --n 50       # smoke run
    python benchmarks/model_load.py --model random_forest

Both sides load the same registered bytes through their mloop flavor and score the same rows,
already coerced to model features; the maximum probability difference is printed too.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "churn"))

from generate import generate

from mloop.data.schema import infer_schema
from mloop.flavors import get_flavor
from mloop.flavors.onnx import export_onnx
from mloop.scoring.features import coerce, feature_spec
from mloop.scoring.task import Task
from mloop.training.defaults import for_prediction
from mloop.training.estimators import build_pipeline, make_estimator


def percentiles(samples: list[float]) -> tuple[float, float]:
    p50, p99 = np.percentile(samples, [50, 99])
    return float(p50), float(p99)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="single-row predict calls per side")
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument(
        "--model", default="logistic", choices=["logistic", "random_forest", "gradient_boosting"]
    )
    args = parser.parse_args()

    frame = generate(args.rows, seed=0)
    spec = feature_spec(infer_schema(frame), target="churned")
    features = coerce(frame, spec)
    params = {"n_estimators": 100} if args.model != "logistic" else {}
    estimator = make_estimator(args.model, Task.CLASSIFICATION, params, seed=0, root=Path.cwd())
    pipeline = build_pipeline(spec, estimator).fit(features, frame["churned"].to_numpy())
    for_prediction(args.model, estimator, params)  # as `mloop train` saves it: no worker pool

    sides = {
        "skops (sklearn)": (get_flavor("sklearn"), get_flavor("sklearn").save(pipeline)),
        "onnx (onnxruntime)": (get_flavor("onnx"), export_onnx(pipeline, features.head(20))),
    }
    rows = [features.iloc[[i % len(features)]] for i in range(args.n)]
    results = {}
    for name, (flavor, blob) in sides.items():
        load_times = []
        for _ in range(args.loads):
            start = time.perf_counter()
            model = flavor.load(blob)
            load_times.append(time.perf_counter() - start)
        for row in rows[:20]:
            flavor.predict_proba(model, row)
        latencies = []
        for row in rows:
            start = time.perf_counter()
            flavor.predict_proba(model, row)
            latencies.append((time.perf_counter() - start) * 1000)
        results[name] = (
            len(blob),
            statistics.median(load_times) * 1000,
            *percentiles(latencies),
            model,
            flavor,
        )

    print(
        f"model: {args.model} pipeline (impute + scale + one-hot + model), {len(spec.columns)} features"
    )
    print(
        f"{'artifact':20} {'bytes':>9} {'load ms (median)':>17} {'predict p50 ms':>15} {'predict p99 ms':>15}"
    )
    for name, (size, load_ms, p50, p99, _, _) in results.items():
        print(f"{name:20} {size:9d} {load_ms:17.2f} {p50:15.3f} {p99:15.3f}")
    (
        (_, sk_load, sk_p50, sk_p99, sk_model, sk_flavor),
        (_, ox_load, ox_p50, ox_p99, ox_model, ox_flavor),
    ) = results.values()
    print(
        f"ratio skops / onnx: load {sk_load / ox_load:.1f}x, predict p50 {sk_p50 / ox_p50:.1f}x, p99 {sk_p99 / ox_p99:.1f}x"
    )
    sample = features.head(500)
    gap = np.abs(
        sk_flavor.predict_proba(sk_model, sample) - ox_flavor.predict_proba(ox_model, sample)
    ).max()
    print(f"max |p_skops - p_onnx| over 500 rows: {gap:.2e}")


if __name__ == "__main__":
    main()
