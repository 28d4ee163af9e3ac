"""`mloop.deploy`, the Python form of `mloop deploy`."""

from __future__ import annotations

import pytest

import mloop
from mloop.workspace import Workspace


def test_deploy_from_python_writes_the_same_revision_the_cli_would(models: Workspace) -> None:
    revision = mloop.deploy(
        "churn-api",
        "churn@champion",
        canary="churn@challenger",
        weight=25,
        reason="from a notebook",
        workspace=models,
    )
    assert (revision.endpoint, revision.number, revision.primary.ref) == ("churn-api", 1, "churn@1")
    assert revision.primary.follows == "churn@champion" and revision.created_by == "tester"
    assert revision.traffic == {"primary": 75, "canary": 25}
    with pytest.raises(mloop.InvalidInput, match="1 to 99"):
        mloop.deploy("churn-api", "churn@1", canary="churn@2", weight=0, workspace=models)
    with pytest.raises(mloop.NotFound, match="no version 7"):
        mloop.deploy("churn-api", "churn@7", workspace=models)
