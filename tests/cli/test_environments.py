"""The CLI in unusual but common environments: odd paths, narrow encodings, pipes, terminals,
read-only and full folders. Every test runs the real entry point in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_mloop


@pytest.mark.parametrize("names", [("a?b", "a?c"), ("%41", "A"), ("50%off", "proj #2")])
def test_url_characters_in_the_workspace_path_keep_each_store_inside_it(
    tmp_path: Path, names: tuple[str, str]
) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n1,2\n3,4\n")
    for index, name in enumerate(names):
        ws = tmp_path / name
        ws.mkdir()
        assert run_mloop("init", ".", cwd=ws).returncode == 0
        for _ in range(index + 1):  # a different number of datasets in each
            csv.write_text(csv.read_text() + "5,6\n")
            added = run_mloop("data", "add", f"d{_}", str(csv), cwd=ws)
            assert added.returncode == 0, added.stderr
    for index, name in enumerate(names):
        assert (tmp_path / name / ".mloop" / "mloop.db").is_file()
        listed = run_mloop("data", "ls", "--json", cwd=tmp_path / name)
        assert listed.stdout.count('"name"') == index + 1, listed.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names, "d.csv"])


def _two_versions(ws: Path, env: dict[str, str]) -> None:
    assert run_mloop("init", ".", cwd=ws, env=env).returncode == 0
    (ws / "d.csv").write_text("x,y\n1,a\n2,b\n")
    assert run_mloop("data", "add", "d", "d.csv", cwd=ws, env=env).returncode == 0
    (ws / "d.csv").write_text("x,y,z\n1,a,3\n2,b,4\n5,c,6\n")
    assert run_mloop("data", "add", "d", "d.csv", cwd=ws, env=env).returncode == 0


@pytest.mark.parametrize(
    "env",
    [
        {"PYTHONIOENCODING": "ascii"},
        {"PYTHONIOENCODING": "latin-1"},
        {"LANG": "C", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"},
    ],
)
def test_a_narrow_stdout_encoding_prints_fallbacks_and_ascii_json(
    tmp_path: Path, env: dict[str, str]
) -> None:
    env = {**env, "MLOOP_USER": "José 日本"}
    _two_versions(tmp_path, env)
    shown = run_mloop("data", "show", "d@2", cwd=tmp_path, env=env)  # "3 rows × 3 columns"
    diffed = run_mloop("data", "diff", "d@1", "d@2", cwd=tmp_path, env=env)  # "d@1 → d@2"
    for done in (shown, diffed):
        assert done.returncode == 0 and "Error" not in done.stderr, done.stderr
    assert "d@1 -> d@2" in diffed.stdout or "d@1 → d@2" in diffed.stdout
    as_json = run_mloop("data", "show", "d@2", "--json", cwd=tmp_path, env=env)
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout.isascii() and json.loads(as_json.stdout)["created_by"] == "José 日本"


def test_c_locale_without_utf8_mode_records_unicode_paths_as_text(tmp_path: Path) -> None:
    env = {"LANG": "C", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    ws = tmp_path / "café 日本"
    ws.mkdir()
    assert run_mloop("init", ".", cwd=ws, env=env).returncode == 0
    rows = "\n".join(f"{i},{i % 3},{i % 2}" for i in range(60))
    (ws / "données.csv").write_text("a,b,label\n" + rows + "\n")
    added = run_mloop("data", "add", "d", "données.csv", cwd=ws, env=env)
    assert added.returncode == 0, added.stderr
    trained = run_mloop(
        "train", "--data", "d", "--target", "label", "--model", "logistic", "--json",
        cwd=ws, env=env,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    run = json.loads(trained.stdout)["run"]
    shown = run_mloop("runs", "show", run, "--json", cwd=ws, env=env)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["info"]["environment"]["cwd"] == str(ws.resolve())
    data = run_mloop("data", "show", "d@1", "--json", cwd=ws, env=env)
    assert json.loads(data.stdout)["source_path"] == str((ws / "données.csv").resolve())


def test_a_workspace_path_too_long_for_sqlite_says_so(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d" * 60] * 9)
    deep.mkdir(parents=True)
    result = run_mloop("init", ".", cwd=deep)
    assert result.returncode == 2
    assert "longer than the 500 SQLite accepts" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
