"""The README's examples are what new users copy first: run them as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mloop.cli.app import main
from tests.conftest import run_mloop

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def _block(containing: str, fence: str = "python") -> str:
    """The one README block of this language holding ``containing``."""
    blocks = re.findall(rf"```{fence}\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    (block,) = [b for b in blocks if containing in b]
    return str(block)


def test_every_python_block_is_run_by_a_test() -> None:
    tested = {_block("mloop.start_run"), _block("httpx.post"), _block("tritonclient")}
    assert set(_python_blocks()) == tested


def test_the_python_api_example_runs_as_written(tmp_path: Path) -> None:
    block = _block("mloop.start_run")
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


def _mloop(root: Path, *args: str) -> int:
    """``mloop ARGS`` in-process in the workspace ``root``, as the user in that folder would."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLOOP_WORKSPACE", str(root))
        patch.setenv("MLOOP_USER", "tester")
        patch.chdir(root)
        return main(list(args))


def test_the_serving_examples_run_against_a_real_server(tmp_path: Path) -> None:
    """The Serving part as written: httpx and tritonclient against `mloop serve`, then each
    command of its bash block (but `mloop serve` itself) with the exit code the text promises."""
    from mloop.demo_data import write_tour_files
    from tests.serving.server_harness import build_workspace, running

    root = build_workspace(tmp_path / "ws", models=2)  # churn@1, churn@2, endpoint churn
    write_tour_files(root, rows=300)  # next-month.csv, with a payment method never seen
    assert _mloop(root, "models", "promote", "churn", "1", "--to", "champion") == 0
    lines = (_block('"first endpoint"', "bash") + _block("--stage", "bash")).splitlines()
    commands = [shlex.split(line, comments=True) for line in lines]
    commands = [words for words in commands if words]
    assert commands[1] == ["mloop", "serve"]
    assert _mloop(root, *commands[0][1:]) == 0  # deploy churn-api churn@champion
    with running(root) as server:
        code = _block("httpx.post") + _block("tritonclient")
        code = code.replace("127.0.0.1:8000", server.url.removeprefix("http://"))
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        answer, refused, v2 = done.stdout.splitlines()
        assert answer.startswith("{'predictions': [") and "'model': 'churn'" in answer
        assert refused.startswith("422 [{'row': 1, 'column': 'payment_method', 'rule': 'allowed'")
        assert re.fullmatch(r"\[(True|False)\] \[\[0\.\d+ +0\.\d+\]\]", v2), v2
        expected = {"predict": 1}  # the next month's unseen payment method: rows rejected
        for words in commands[2:]:
            assert _mloop(root, *words[1:]) == expected.get(words[1], 0), words
