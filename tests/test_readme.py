"""The README's examples are what new users copy first: run them as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import run_mloop

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_python_api_example_runs_as_written(tmp_path: Path) -> None:
    (block,) = _python_blocks()
    assert run_mloop("init", ".", cwd=tmp_path).returncode == 0
    generate = [sys.executable, ROOT / "examples" / "churn" / "generate.py", "--rows", "600"]
    subprocess.run([*generate, "--out", tmp_path / "churn.csv"], check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    done = subprocess.run(
        [sys.executable, "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr  # e.g. a standard pipeline stored as pickle
    assert re.fullmatch(r"\[(True|False)( (True|False)){4}\]\n", done.stdout), done.stdout
    lineage = run_mloop("models", "lineage", "churn@1", cwd=tmp_path)
    assert lineage.returncode == 0, lineage.stderr
    assert "data (train): churn@1" in lineage.stdout and "C = 0.5" in lineage.stdout


def test_the_quick_tour_only_uses_versions_it_has_made() -> None:
    """Every `models approve|promote|export NAME N` in the tour follows the Nth `--register NAME`."""
    tour = re.search(r"## Quick tour\n\n```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert tour is not None
    registered: dict[str, int] = {}
    for line in tour.group(1).splitlines():
        words = line.split("#")[0].split()
        if "--register" in words:
            name = words[words.index("--register") + 1]
            registered[name] = registered.get(name, 0) + 1
        if words[1:3] in (["models", "approve"], ["models", "promote"]):
            name, version = words[3], int(words[4])
            assert version <= registered.get(name, 0), line
        for word in words:
            if "@" in word and word.split("@")[1].isdigit():
                name, version = word.split("@")[0], int(word.split("@")[1])
                if name in registered:
                    assert version <= registered[name], line


def test_the_quick_tour_makes_its_own_data_and_its_first_steps_run(tmp_path: Path) -> None:
    """A new user has no churn.csv: the tour's first line writes the files the rest names."""
    tour = re.search(r"## Quick tour\n\n```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert tour is not None
    lines = [line.split("#")[0].split() for line in tour.group(1).splitlines()]
    assert lines[0][:3] == ["mloop", "demo", "--data-only"]
    codes = []
    for words in lines[: lines.index(["mloop", "data", "validate", "churn", "next-month.csv"]) + 1]:
        done = run_mloop(*words[1:], cwd=tmp_path)
        codes.append(done.returncode)
        assert done.returncode in (0, 1), done.stderr
    assert codes == [0, 0, 0, 0, 1], "the drifted month fails validation, as the tour says"
