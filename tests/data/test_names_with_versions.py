"""``NAME@N`` where a command wants a name alone: the message says what ``@`` means and what to
type instead for that command, never pointing at a version argument the command does not have."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def test_data_add_with_a_version_says_versions_are_numbered_and_what_to_type(
    cli: Any, tmp_path: Path
) -> None:
    data = tmp_path / "f.csv"
    data.write_text("a,b\n1,2\n")
    result = cli("data", "add", "churn@3", data)
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "joins a name to a version" in message
    assert "numbers the versions it makes" in message
    assert f"mloop data add churn {data}" in message
    assert "own argument" not in message


def test_a_schema_of_one_version_says_the_schema_belongs_to_the_dataset(
    cli: Any, tmp_path: Path
) -> None:
    data = tmp_path / "f.csv"
    data.write_text("a,b\n1,2\n")
    assert cli("data", "add", "churn", data).exit_code == 0
    result = cli("data", "schema", "churn@1")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "belongs to the dataset" in message and "own argument" not in message


def test_train_register_with_a_version_says_registering_numbers_versions(
    cli: Any, tmp_path: Path
) -> None:
    result = cli("train", "--data", "d", "--target", "y", "--register", "churn@2")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "--register numbers the versions it makes" in message


def test_did_you_mean_catches_spelling_case_and_spaces_and_stays_quiet_otherwise() -> None:
    from mloop.data.refs import did_you_mean

    names = ["customer_id", "Monthly Charges", "churned", "region"]
    assert did_you_mean("monthly charges ", names) == "did you mean 'Monthly Charges'?"
    assert did_you_mean("churnd", names) == "did you mean 'churned'?"
    assert did_you_mean("REGION", names) == "did you mean 'region'?"
    assert did_you_mean("tenure", names) is None
