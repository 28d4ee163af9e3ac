"""A delimiter ending every line (``a,b,,`` from Excel and many exports) adds no columns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def test_trailing_unnamed_empty_columns_are_not_columns(cli: Any, tmp_path: Path) -> None:
    rows = "".join(
        f"{20 + i % 40},{'pro' if i % 3 else 'basic'},{'yes' if i % 2 else 'no'},,\n"
        for i in range(60)
    )
    path = tmp_path / "export.csv"
    path.write_text("age,plan,churned,,\n" + rows)
    added = cli("data", "add", "export", path)
    assert added.exit_code == 0, added.stderr
    assert "columns=3" in added.stdout
    names = [c["name"] for c in json.loads(cli("data", "schema", "export").stdout)["columns"]]
    assert names == ["age", "plan", "churned"]
    assert cli("data", "validate", "export", path).exit_code == 0
    assert cli("train", "--data", "export", "--target", "churned", "--register", "e").exit_code == 0
    batch = tmp_path / "batch.csv"
    batch.write_text("age,plan,\n30,pro,\n41,basic,\n")
    scored = cli("predict", "e@1", "--input", batch, "--output", tmp_path / "out.csv")
    assert scored.exit_code == 0, scored.stderr
    assert "scored=2 rejected=0" in scored.stdout


def test_an_unnamed_column_with_values_is_still_refused(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "index.csv"
    path.write_text("a,b,,\n1,x,,\n2,y,5,\n")
    refused = cli("data", "add", "t", path)
    assert refused.exit_code == 2
    assert "columns named ''" in refused.stderr
    assert "t@1" not in cli("data", "ls").stdout, "nothing is left behind"
