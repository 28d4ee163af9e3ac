"""The CLI in unusual but common environments: odd paths, narrow encodings, pipes, terminals,
read-only and full folders. Every test runs the real entry point in a subprocess."""

from __future__ import annotations

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
