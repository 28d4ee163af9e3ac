"""Every flavor through the same cases, plus the refusals that make loading safe."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from mloop.data.schema import infer_schema
from mloop.errors import InvalidInput, UntrustedArtifact
from mloop.flavors import flavor_for, get_flavor
from mloop.flavors.onnx import export_onnx
from mloop.hashing import hash_bytes
from mloop.scoring.features import coerce, feature_spec
from mloop.training.estimators import build_pipeline, make_estimator

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "churn"))
from generate import generate


@pytest.fixture(scope="module")
def churn() -> tuple[pd.DataFrame, np.ndarray, Any]:
    frame = generate(600, seed=3)
    spec = feature_spec(infer_schema(frame), target="churned")
    return coerce(frame, spec), frame["churned"].to_numpy(), spec


def _numeric(churn: tuple[pd.DataFrame, np.ndarray, Any]) -> tuple[pd.DataFrame, np.ndarray]:
    features, y, spec = churn
    return features[list(spec.numeric)].fillna(0.0), y


class Plain:
    """A user's own model: only pyfunc can store it."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(frame.iloc[:, 0] > 30)


def _model(kind: str, churn: tuple[pd.DataFrame, np.ndarray, Any]) -> tuple[Any, pd.DataFrame]:
    features, y, spec = churn
    if kind == "sklearn":
        pipeline = build_pipeline(
            spec,
            make_estimator(
                "random_forest", "classification", {"n_estimators": 10}, seed=0, root=Path()
            ),
        )
        return pipeline.fit(features, y), features
    if kind == "lightgbm":  # the lightgbm/xgboost extras: `make test` installs them
        lightgbm = pytest.importorskip("lightgbm")
        x, y = _numeric(churn)
        return lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y), x
    if kind == "xgboost":
        xgboost = pytest.importorskip("xgboost")
        x, y = _numeric(churn)
        return xgboost.XGBClassifier(n_estimators=20).fit(x, y), x
    x, _ = _numeric(churn)
    return Plain(), x


@pytest.mark.parametrize("kind", ["sklearn", "lightgbm", "xgboost", "pyfunc"])
def test_save_load_predict_round_trip(
    kind: str, churn: tuple[pd.DataFrame, np.ndarray, Any]
) -> None:
    model, x = _model(kind, churn)
    flavor = flavor_for(model)
    assert flavor.name == kind
    blob = flavor.save(model)
    loaded = flavor.load(blob, expected_hash=hash_bytes(blob))
    np.testing.assert_array_equal(flavor.predict(loaded, x), np.asarray(model.predict(x)))
    if hasattr(model, "predict_proba"):
        np.testing.assert_allclose(
            flavor.predict_proba(loaded, x), model.predict_proba(x), atol=1e-6
        )


def test_onnx_export_matches_sklearn_including_unseen_and_missing(
    churn: tuple[pd.DataFrame, np.ndarray, Any],
) -> None:
    """The churn pipeline (logistic). Tree ensembles can differ where float32 rounding crosses a split."""
    features, y, spec = churn
    pipeline = build_pipeline(
        spec, make_estimator("logistic", "classification", {}, seed=0, root=Path())
    ).fit(features, y)
    blob = export_onnx(pipeline, features.head(10))
    onnx = get_flavor("onnx")
    session = onnx.load(blob)
    rows = generate(50, seed=9, month=2, drift=True)  # has "Crypto wallet", never seen in training
    rows.loc[0, "monthly_charges"] = np.nan
    rows.loc[1, "region"] = None
    prepared = coerce(rows, spec)
    assert "Crypto wallet" in set(prepared["payment_method"])
    np.testing.assert_allclose(
        onnx.predict_proba(session, prepared), pipeline.predict_proba(prepared), atol=1e-5
    )


def test_onnx_export_refuses_what_it_cannot_convert(
    churn: tuple[pd.DataFrame, np.ndarray, Any],
) -> None:
    x, y = _numeric(churn)
    odd = Pipeline([("f", FunctionTransformer(np.log1p)), ("m", LogisticRegression())]).fit(x, y)
    with pytest.raises(InvalidInput, match="skl2onnx cannot convert"):
        export_onnx(odd, x.head(5))


def test_skops_file_with_an_untrusted_function_is_refused_before_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evil = Pipeline([("run", FunctionTransformer(os.system)), ("m", LogisticRegression())])
    blob = sio.dumps(evil)

    def must_not_load(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("skops.io.loads was called on an untrusted file")

    monkeypatch.setattr(sio, "loads", must_not_load)
    with pytest.raises(UntrustedArtifact, match="does not trust") as caught:
        get_flavor("sklearn").load(blob)
    assert "system" in str(caught.value)


def test_the_sklearn_flavor_does_not_claim_models_it_cannot_store_safely() -> None:
    pipeline = Pipeline([("f", FunctionTransformer(os.system)), ("m", LogisticRegression())])
    assert not get_flavor("sklearn").accepts(pipeline)
    assert flavor_for(pipeline).name == "pyfunc"


def test_pyfunc_refuses_without_or_with_a_wrong_hash() -> None:
    flavor = get_flavor("pyfunc")
    blob = flavor.save(Plain())
    with pytest.raises(UntrustedArtifact, match="only through the registry"):
        flavor.load(blob)
    with pytest.raises(UntrustedArtifact, match="do not match"):
        flavor.load(blob, expected_hash=hash_bytes(b"something else"))
    assert isinstance(flavor.load(blob, expected_hash=hash_bytes(blob)), Plain)


def test_unknown_flavor_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match="known: sklearn, lightgbm, xgboost, onnx, pyfunc"):
        get_flavor("tensorflow")


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_native_flavors_refuse_foreign_bytes(name: str) -> None:
    with pytest.raises(UntrustedArtifact):
        get_flavor(name).load(b"\x80\x04 not a model")


def test_a_booster_envelope_with_untrusted_preprocessing_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The preprocessing inside a LightGBM envelope passes the same trusted-type check as skops."""
    lgb = pytest.importorskip("lightgbm")
    import base64
    import json

    x = np.random.default_rng(0).normal(size=(60, 2))
    safe = Pipeline([("f", FunctionTransformer()), ("m", lgb.LGBMClassifier(n_estimators=3))])
    safe.fit(x, x[:, 0] > 0)
    flavor = get_flavor("lightgbm")
    assert flavor.accepts(safe)
    envelope = json.loads(flavor.save(safe))
    evil = Pipeline([("run", FunctionTransformer(os.system))])
    envelope["preprocess"] = base64.b64encode(sio.dumps(evil)).decode()
    monkeypatch.setattr(sio, "loads", lambda *a, **k: pytest.fail("loaded an untrusted file"))
    with pytest.raises(UntrustedArtifact, match="does not trust"):
        flavor.load(json.dumps(envelope).encode())


@pytest.mark.parametrize(
    "estimator",
    [
        "sklearn.ensemble:RandomForestClassifier",
        "sklearn.ensemble:ExtraTreesClassifier",
        "sklearn.ensemble:GradientBoostingClassifier",
        "sklearn.ensemble:RandomForestRegressor",
        "sklearn.ensemble:GradientBoostingRegressor",
    ],
)
def test_onnx_export_of_bare_tree_ensembles_answers_like_scikit_learn(estimator: str) -> None:
    """Double-precision trees: float32 thresholds used to move probabilities by a few hundredths.

    The regression target sits far from zero (1e6 + spread 1): float32 cannot hold such a
    prediction to 1e-4 of its spread, so the export must add the offset back in double.
    """
    from importlib import import_module

    module, name = estimator.split(":")
    rows = generate(1500, seed=11)
    x = rows[["tenure_months", "monthly_charges", "total_charges", "support_calls"]].astype(float)
    x = x.fillna(0.0)
    regression = name.endswith("Regressor")
    y = (
        1e6 + rows["monthly_charges"] / rows["monthly_charges"].std()
        if regression
        else (rows["contract"].astype(str))
    )
    fitted = getattr(import_module(module), name)(random_state=0).fit(x.iloc[:1000], y.iloc[:1000])
    held_out = x.iloc[1000:]
    onnx = get_flavor("onnx")
    session = onnx.load(export_onnx(fitted, x.head(5)))
    expected = fitted.predict(held_out)
    got = onnx.predict(session, held_out)
    if regression:
        assert np.max(np.abs(got - expected)) / np.std(expected) < 1e-4
        return
    assert got.tolist() == expected.tolist()  # same labels, in sklearn's spelling
    np.testing.assert_allclose(
        onnx.predict_proba(session, held_out), fitted.predict_proba(held_out), atol=1e-6
    )
