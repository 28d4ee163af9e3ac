"""Params keep their JSON type and never change; tags are strings and may."""

from __future__ import annotations

import numpy as np
import pytest

from mloop.errors import InvalidInput, NotFound
from mloop.tracking import runs
from mloop.tracking.fluent import start_run
from mloop.workspace import Workspace


def test_params_keep_their_json_type(workspace: Workspace) -> None:
    with start_run("typed", workspace=workspace) as run:
        run.log_params(
            {
                "lr": 0.1,
                "lr_text": "0.1",
                "layers": 3,
                "shuffle": True,
                "sizes": (64, 32),
                "dropout": None,
                "seed": np.int64(7),
                "alpha": np.float32(0.5),
            }
        )
    params = runs.get_run(workspace.store, run.id).params
    assert params["lr"] == 0.1 and isinstance(params["lr"], float)
    assert params["lr_text"] == "0.1"
    assert params["layers"] == 3 and isinstance(params["layers"], int)
    assert params["shuffle"] is True
    assert params["sizes"] == [64, 32]
    assert params["dropout"] is None
    assert params["seed"] == 7 and isinstance(params["seed"], int)
    assert params["alpha"] == 0.5


def test_relogging_the_same_param_is_fine_but_a_new_value_is_refused(
    workspace: Workspace,
) -> None:
    with start_run(workspace=workspace) as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)
        for other in ("0.1", 0.2, True):
            with pytest.raises(InvalidInput, match=r"Parameter 'lr' of run \w+ is already 0.1"):
                run.log_param("lr", other)
        run.log_param("flag", True)
        with pytest.raises(InvalidInput, match="cannot change"):
            run.log_param("flag", 1)
    assert runs.get_run(workspace.store, run.id).params == {"flag": True, "lr": 0.1}


def test_tags_are_strings_and_can_be_overwritten(workspace: Workspace) -> None:
    with start_run(workspace=workspace, tags={"team": "risk"}) as run:
        run.set_tag("stage", "draft")
        run.set_tags({"stage": "final", "epochs": 3})
    assert runs.get_run(workspace.store, run.id).tags == {
        "epochs": "3",
        "stage": "final",
        "team": "risk",
    }


def test_bad_keys_are_refused_with_one_sentence(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        for key in ("", "   ", "k" * 251):
            with pytest.raises(
                InvalidInput, match="must be a non-empty string of at most 250"
            ) as p:
                run.log_param(key, 1)
            assert str(p.value).count(". ") == 0
            with pytest.raises(InvalidInput, match="Metric name"):
                run.log_metric(key, 1.0)
            with pytest.raises(InvalidInput, match="Tag name"):
                run.set_tag(key, "x")
    runs.log_params(workspace.store, run.id, {"k" * 250: 1})  # 250 is the limit itself


def test_metric_values_must_be_numbers(workspace: Workspace) -> None:
    with start_run(workspace=workspace) as run:
        with pytest.raises(InvalidInput, match="Metric 'acc' must be a number"):
            run.log_metric("acc", "0.9")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="Metric 'acc' must be a number"):
            run.log_metric("acc", [0.9])  # type: ignore[arg-type]
        run.log_metric("acc", np.float64(0.9))
    assert runs.get_run(workspace.store, run.id).metrics == {"acc": 0.9}


def test_writing_to_an_unknown_run_is_not_found(workspace: Workspace) -> None:
    with pytest.raises(NotFound, match=r"No run 'nope'; `mloop runs ls` lists them\."):
        runs.log_params(workspace.store, "nope", {"a": 1})
    with pytest.raises(NotFound, match="No run 'nope'"):
        runs.set_tags(workspace.store, "nope", {"a": 1})
    with pytest.raises(NotFound, match="No run 'nope'"):
        runs.finish_run(workspace.store, "nope", "FINISHED")


def test_numpy_values_are_stored_whole_even_inside_lists_and_dicts(workspace: Workspace) -> None:
    """str() of a numpy array elides the middle ('[0 1 2 ... 997 998 999]') and a dict holding a
    numpy scalar became the text "{'lr': np.float32(0.5)}": both lost the value."""
    with start_run("numpy", workspace=workspace) as run:
        run.log_params(
            {
                "class_weight": np.array([0.25, 0.75]),
                "grid": np.arange(1_000),
                "optimizer": {"lr": np.float32(0.5), "betas": (np.float64(0.9), 0.999)},
                "lr32": np.float32(0.1),
            }
        )
        run.log_param("grid", np.arange(1_000))  # the same value again: a no-op
    params = runs.get_run(workspace.store, run.id).params
    assert params["class_weight"] == [0.25, 0.75]
    assert params["grid"] == list(range(1_000))
    assert params["optimizer"] == {"lr": 0.5, "betas": [0.9, 0.999]}
    assert params["lr32"] == 0.1  # float32's own shortest form, not 0.10000000149011612


def test_a_parameter_holding_data_is_refused_with_what_to_do(workspace: Workspace) -> None:
    import numpy as np

    with start_run("big", workspace=workspace) as run:
        run.log_param("weights", np.arange(1_000))  # a setting-sized list is kept whole
        with pytest.raises(InvalidInput, match=r"log data this large with run.log_artifact"):
            run.log_param("embedding", np.zeros(100_000))
    assert len(runs.get_run(workspace.store, run.id).params["weights"]) == 1_000
