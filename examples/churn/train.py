"""Train the churn model from a script, tracked by mloop: the shape of one pipeline step.

    python examples/churn/train.py --data churn.csv --out models/churn [--register churn-script]

Snapshots the data (or reuses the version with the same bytes), trains a gradient-boosted
pipeline while logging the validation loss per boosting stage, writes the model and its metrics
to --out, and records everything, with lineage, in the workspace (found from the current folder,
MLOOP_WORKSPACE, or --workspace).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import f1_score, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import mloop

NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls"]
CATEGORICAL = [
    "contract",
    "internet_service",
    "payment_method",
    "region",
    "senior_citizen",
    "paperless_billing",
]
TARGET = "churned"


def features(frame: pd.DataFrame) -> pd.DataFrame:
    numeric = frame[NUMERIC].apply(pd.to_numeric, errors="coerce").astype("float64")
    categorical = (
        frame[CATEGORICAL]
        .astype(object)
        .where(frame[CATEGORICAL].notna(), np.nan)
        .astype(str)
        .replace("nan", np.nan)
    )
    return pd.concat([numeric, categorical], axis=1)


def build(params: dict[str, float | int]) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), NUMERIC),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                    ]
                ),
                CATEGORICAL,
            ),
        ]
    )
    return Pipeline([("features", prepare), ("model", GradientBoostingClassifier(**params))])


def check_columns(source: str, columns: list[str]) -> None:
    """Refuse a table that is not the churn table before anything is snapshotted or trained."""
    missing = [c for c in [*NUMERIC, *CATEGORICAL, TARGET] if c not in columns]
    if missing:
        raise mloop.InvalidInput(
            f"{source} has no column(s) {', '.join(missing)}; "
            "make a churn table with examples/churn/generate.py."
        )


def file_columns(path: Path) -> list[str]:
    if path.suffix in {".parquet", ".pq"}:
        return list(pq.read_schema(path).names)
    return list(pd.read_csv(path, nrows=0, sep=None, engine="python").columns)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", required=True, help="a CSV/Parquet file, or a dataset version NAME@N"
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for model.skops and metrics.json"
    )
    parser.add_argument("--dataset-name", default="churn")
    parser.add_argument("--register", help="also register the model under this name")
    parser.add_argument("--workspace", help="workspace folder (default: the current one)")
    parser.add_argument("--n-estimators", type=int, default=120)
    parser.add_argument("--learning-rate", type=float, default=0.08)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} is a file; give a folder for model.skops and metrics.json")
    try:
        train(args)
    except mloop.MloopError as exc:  # one sentence and exit 2, as the mloop CLI does
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)


def train(args: argparse.Namespace) -> None:
    workspace = mloop.Workspace.open(args.workspace)
    if Path(args.data).exists():
        check_columns(args.data, file_columns(Path(args.data)))
        version = mloop.add_dataset(args.dataset_name, args.data, workspace=workspace)
    else:
        version = mloop.get_dataset(args.data, workspace=workspace)
    frame = mloop.load_dataset(version.ref, workspace=workspace)
    check_columns(version.ref, list(frame.columns))
    frame = frame[frame[TARGET].notna()]
    x, y = features(frame), frame[TARGET].astype(bool).to_numpy()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.2, random_state=args.seed, stratify=y
    )

    params = {
        "n_estimators": args.n_estimators,
        "learning_rate": args.learning_rate,
        "max_depth": 3,
        "random_state": args.seed,
    }
    with mloop.start_run(experiment="churn-script", workspace=workspace) as run:
        run.log_input(version)
        run.log_params(params)
        run.set_tag("entry", "examples/churn/train.py")
        pipeline = build(params).fit(x_train, y_train)
        booster = pipeline.named_steps["model"]
        prepared = pipeline.named_steps["features"].transform(x_test)
        for stage, proba in enumerate(booster.staged_predict_proba(prepared)):
            run.log_metric("val_log_loss", log_loss(y_test, proba), step=stage)
        proba = pipeline.predict_proba(x_test)[:, 1]
        metrics = {
            "roc_auc": roc_auc_score(y_test, proba),
            "f1": f1_score(y_test, proba >= 0.5),
            "log_loss": log_loss(y_test, proba),
        }
        run.log_metrics(metrics)
        args.out.mkdir(parents=True, exist_ok=True)
        sio.dump(pipeline, args.out / "model.skops")
        (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        run.log_artifact(args.out, name="output")
        registered = run.log_model(
            pipeline, name=args.register, target=TARGET, input_example=x_test.head(3)
        )
    print(f"dataset={version.ref} (blake3:{version.content_hash})")
    print(f"run={run.id}")
    for key, value in metrics.items():
        print(f"metric.{key}={value:.6g}")
    print(f"out={args.out}")
    if registered is not None and args.register:
        print(f"model={registered.ref}")
    workspace.close()


if __name__ == "__main__":
    main()
