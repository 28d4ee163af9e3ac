"""What a user sees when they print a result: one line, not kilobytes of profile or environment;
counts read "1 row", "2 rows"; an empty listing says how to make the first entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sklearn.linear_model import LogisticRegression

import mloop
from mloop.tracking.runs import get_run
from mloop.workspace import Workspace


def _wide_table(path: Path, rows: int) -> Path:
    header = ",".join(f"feature_{i}" for i in range(30)) + ",label"
    body = "\n".join(
        ",".join(str((r * 7 + i) % 11) for i in range(30)) + f",{r % 2}" for r in range(rows)
    )
    path.write_text(f"{header}\n{body}\n")
    return path


def test_results_of_the_python_api_print_as_one_short_line(
    workspace: Workspace, tmp_path: Path
) -> None:
    version = mloop.add_dataset("wide", _wide_table(tmp_path / "w.csv", 1000), workspace=workspace)
    assert repr(version) == "DatasetVersion(wide@1, 1,000 rows, 31 columns)"
    schema = repr(version.schema)
    assert schema.startswith("Schema(31 columns: feature_0, feature_1,") and len(schema) < 200
    frame = mloop.load_dataset("wide@1", workspace=workspace)
    with mloop.start_run(experiment="reprs", workspace=workspace) as run:
        run.log_input(version)
        run.log_param("C", 1.0)
        run.log_metric("loss", 0.5)
        model = LogisticRegression().fit(frame.drop(columns="label"), frame["label"])
        registered = run.log_model(model, name="wide", target="label")
    assert repr(registered) == f"ModelVersion(wide@1, sklearn, run {run.id})"
    loaded = mloop.load_model("wide@1", workspace=workspace)
    assert repr(loaded) == "LoadedModel(wide@1, sklearn, LogisticRegression)"
    stored = get_run(workspace.store, run.id)
    artifacts = len(stored.artifacts)  # the model, and what log_model stores beside it
    assert repr(stored) == (
        f"Run({run.id}, reprs, FINISHED, 1 param, 1 metric, {artifacts} artifacts, 1 input)"
    )
    assert all(len(repr(r)) < 120 for r in (version, registered, loaded, stored, stored.info))


def test_one_row_is_one_row(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "one.csv"
    data.write_text("a,b\n1,2\n")
    assert cli("data", "add", "one", data).exit_code == 0
    shown = cli("data", "show", "one@1")
    assert "1 row × 2 columns" in shown.stdout and "1 rows" not in shown.stdout
    checked = cli("data", "validate", "one", data)
    assert "1 row, no violations" in checked.stdout


def test_empty_listings_say_there_are_none_yet_and_how_to_add_one(cli: Any) -> None:
    datasets = cli("data", "ls")
    assert datasets.exit_code == 0 and "No datasets yet" in datasets.stdout
    assert "mloop data add" in datasets.stdout
    models = cli("models", "ls")
    assert (
        models.exit_code == 0 and "No models yet" in models.stdout and "--register" in models.stdout
    )
    runs = cli("runs", "ls")
    assert runs.exit_code == 0 and "No runs yet" in runs.stdout
    assert cli("data", "ls", "--json").stdout.strip() == "[]"
