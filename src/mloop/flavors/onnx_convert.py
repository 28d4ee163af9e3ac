"""Tree ensembles to ONNX in double precision, so the exported file answers like scikit-learn.

skl2onnx converts trees with float32 thresholds: a value that sits between a threshold and its
float32 rounding goes down the other branch, and a forest's probabilities move by a few hundredths.
scikit-learn itself compares ``float32(x)`` with float64 thresholds. This module builds the same
comparison: the preprocessing runs in double (skl2onnx, with its float-only ``Imputer`` replaced
by ``IsNaN``/``Where``), the features are rounded to float32 and back exactly as scikit-learn
rounds them, and the trees are an ``ai.onnx.ml`` ``TreeEnsembleRegressor`` of opset 3 with double
thresholds and leaf values (``*_as_tensor``). That operator's output is float32, so each leaf
holds its value minus a per-target offset that is added back in double after it: what float32
rounds is then the deviation, of the order of the target's spread, not the prediction itself.

Labels are decided in the graph as scikit-learn decides them: the first of equal maxima (ArgMax
with ``select_last_index=0``), and ``raw >= 0`` for a binary gradient-boosting classifier.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

ML_OPSET = 3  # the first ai.onnx.ml opset whose tree ensembles take double thresholds
ONNX_OPSET = 17
FOREST_CLASSIFIERS = (RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier)
FOREST_REGRESSORS = (RandomForestRegressor, ExtraTreesRegressor, DecisionTreeRegressor)


@dataclass(frozen=True)
class Ensemble:
    """The trees' sum as ``TreeEnsembleRegressor`` computes it, and what follows it.

    ``leaves[i]`` holds one row per node of ``trees[i]`` (leaf values per target, already
    weighted); the graph adds ``offset`` to the sum in double, then applies ``head``.
    """

    trees: list[Any]  # sklearn.tree._tree.Tree
    leaves: list[np.ndarray]
    offset: np.ndarray
    head: str  # "probabilities", "sigmoid", "softmax" or "value"


def _constant_init(model: Any) -> np.ndarray | None:
    """Gradient boosting's starting raw score, when it does not depend on the row."""
    init = model.init_
    if not (isinstance(init, str) and init == "zero") and not isinstance(
        init, DummyClassifier | DummyRegressor
    ):
        return None  # a user's init estimator: its prediction varies by row
    # scikit-learn keeps this computation private; a constant init gives one row for all rows.
    start: np.ndarray = model._raw_predict_init(np.zeros((1, model.n_features_in_)))[0]
    return start.astype(np.float64)


def ensemble_of(model: Any) -> Ensemble | None:
    """The double-precision form of a fitted tree model, or None for what it does not cover."""
    if getattr(model, "n_outputs_", 1) != 1:
        return None  # multi-output trees: skl2onnx's path handles them (in float32)
    if isinstance(model, FOREST_CLASSIFIERS):
        trees = [model.tree_] if hasattr(model, "tree_") else [e.tree_ for e in model.estimators_]
        leaves = []
        for tree in trees:
            value = tree.value[:, 0, :].astype(np.float64)
            total = value.sum(axis=1, keepdims=True)
            leaves.append(value / np.where(total == 0, 1.0, total) / len(trees))
        return Ensemble(trees, leaves, np.zeros(len(model.classes_)), "probabilities")
    if isinstance(model, FOREST_REGRESSORS):
        trees = [model.tree_] if hasattr(model, "tree_") else [e.tree_ for e in model.estimators_]
        offset = np.array([float(np.mean([t.value[0, 0, 0] for t in trees]))])
        leaves = [(t.value[:, 0, :] - offset) / len(trees) for t in trees]
        return Ensemble(trees, leaves, offset, "value")
    if isinstance(model, GradientBoostingClassifier | GradientBoostingRegressor):
        start = _constant_init(model)
        if start is None:
            return None
        classifier = isinstance(model, GradientBoostingClassifier)
        loss = getattr(model, "loss", "")
        if classifier and loss != "log_loss":
            return None  # the exponential loss has its own link
        stages = model.estimators_  # (n_stages, targets) of regression trees
        trees, leaves = [], []
        for stage in stages:
            for target, estimator in enumerate(stage):
                value = np.zeros((estimator.tree_.node_count, stages.shape[1]))
                value[:, target] = model.learning_rate * estimator.tree_.value[:, 0, 0]
                trees.append(estimator.tree_)
                leaves.append(value)
        head = "value" if not classifier else ("sigmoid" if stages.shape[1] == 1 else "softmax")
        return Ensemble(trees, leaves, start, head)
    return None


def _tree_attributes(ensemble: Ensemble) -> dict[str, Any]:
    """The node and target attributes of ``TreeEnsembleRegressor`` (scikit-learn's layout).

    A split sends ``x <= threshold`` left ("true"); a missing value goes where the tree learned
    to send it (``missing_go_to_left``), which imputed pipelines never exercise.
    """
    from onnx import numpy_helper

    tree_ids: list[np.ndarray] = []
    node_ids: list[np.ndarray] = []
    features: list[np.ndarray] = []
    values: list[np.ndarray] = []
    true_ids: list[np.ndarray] = []
    false_ids: list[np.ndarray] = []
    missing: list[np.ndarray] = []
    modes: list[str] = []
    t_tree: list[np.ndarray] = []
    t_node: list[np.ndarray] = []
    t_target: list[np.ndarray] = []
    t_weight: list[np.ndarray] = []
    for index, (tree, leaf_values) in enumerate(zip(ensemble.trees, ensemble.leaves, strict=True)):
        n = tree.node_count
        left, right = tree.children_left, tree.children_right
        leaf = left == -1
        tree_ids.append(np.full(n, index))
        node_ids.append(np.arange(n))
        features.append(np.where(leaf, 0, tree.feature))
        modes.extend("LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf)
        values.append(np.where(leaf, 0.0, tree.threshold))
        true_ids.append(np.where(leaf, 0, left))
        false_ids.append(np.where(leaf, 0, right))
        go_left = getattr(tree, "missing_go_to_left", np.zeros(n, dtype=np.uint8))
        missing.append(np.where(leaf, 0, np.asarray(go_left, dtype=np.int64)))
        leaf_nodes = np.flatnonzero(leaf)
        targets = leaf_values.shape[1]
        t_tree.append(np.full(len(leaf_nodes) * targets, index))
        t_node.append(np.repeat(leaf_nodes, targets))
        t_target.append(np.tile(np.arange(targets), len(leaf_nodes)))
        t_weight.append(leaf_values[leaf_nodes].reshape(-1))

    def ints(parts: list[np.ndarray]) -> list[int]:
        flat: list[int] = np.concatenate(parts).astype(np.int64).tolist()
        return flat

    return {
        "nodes_treeids": ints(tree_ids),
        "nodes_nodeids": ints(node_ids),
        "nodes_featureids": ints(features),
        "nodes_modes": modes,
        "nodes_values_as_tensor": numpy_helper.from_array(
            np.concatenate(values).astype(np.float64), "nodes_values"
        ),
        "nodes_truenodeids": ints(true_ids),
        "nodes_falsenodeids": ints(false_ids),
        "nodes_missing_value_tracks_true": ints(missing),
        "target_treeids": ints(t_tree),
        "target_nodeids": ints(t_node),
        "target_ids": ints(t_target),
        "target_weights_as_tensor": numpy_helper.from_array(
            np.concatenate(t_weight).astype(np.float64), "target_weights"
        ),
        "n_targets": int(ensemble.leaves[0].shape[1]),
        "aggregate_function": "SUM",
        "post_transform": "NONE",
    }


def _imputers(model: Any) -> Iterator[SimpleImputer]:
    """Every SimpleImputer inside a pipeline or column transformer, in any nesting."""
    if isinstance(model, SimpleImputer):
        yield model
    for _, step in getattr(model, "steps", []):
        yield from _imputers(step)
    for _, transformer, _ in getattr(model, "transformers_", []):
        yield from _imputers(transformer)


def _double_imputers(graph: Any, model: Any) -> bool:
    """Replace skl2onnx's float-only ``Imputer`` nodes with ``IsNaN``/``Where`` in double.

    The fill values come from the fitted SimpleImputer (float64), not the node's float32 copy.
    False when a node replaces something other than NaN (not covered here).
    """
    from onnx import helper, numpy_helper

    fitted = [np.asarray(i.statistics_, dtype=np.float64) for i in _imputers(model)]
    nodes = list(graph.graph.node)
    rebuilt = []
    for node in nodes:
        if node.op_type != "Imputer":
            rebuilt.append(node)
            continue
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if not np.isnan(attributes.get("replaced_value_float", np.nan)):
            return False
        filled = np.asarray(attributes.get("imputed_value_floats", []), dtype=np.float64)
        exact = next(
            (
                s
                for s in fitted
                if s.shape == filled.shape
                and np.allclose(s.astype(np.float32), filled, equal_nan=True)
            ),
            filled,
        )
        stats, mask = f"{node.output[0]}_fill", f"{node.output[0]}_isnan"
        graph.graph.initializer.append(numpy_helper.from_array(exact, stats))
        rebuilt.append(helper.make_node("IsNaN", [node.input[0]], [mask]))
        rebuilt.append(helper.make_node("Where", [mask, stats, node.input[0]], [node.output[0]]))
    del graph.graph.node[:]
    graph.graph.node.extend(rebuilt)
    return True


def _label_values(classes: np.ndarray) -> tuple[np.ndarray | None, int]:
    """The constant a label index is looked up in: int64 or strings; None leaves the index."""
    from onnx import TensorProto

    if classes.dtype.kind in "iu":
        return classes.astype(np.int64), TensorProto.INT64
    if classes.dtype.kind in "OUS" and all(isinstance(c, str) for c in classes.tolist()):
        return classes.astype(object), TensorProto.STRING
    return None, TensorProto.INT64  # booleans and the like: the flavor maps the index back


def _head(ensemble: Ensemble, model: Any, features: str) -> tuple[list[Any], list[Any], list[Any]]:
    """Nodes, initializers and outputs from the features (double) to the answers."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        # scikit-learn's trees read their input as float32: round the same way, then compare
        # in double with the double thresholds.
        helper.make_node("Cast", [features], ["tree_input32"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["tree_input32"], ["tree_input"], to=TensorProto.DOUBLE),
        helper.make_node(
            "TreeEnsembleRegressor",
            ["tree_input"],
            ["tree_sum32"],
            domain="ai.onnx.ml",
            **_tree_attributes(ensemble),
        ),
        helper.make_node("Cast", ["tree_sum32"], ["tree_sum"], to=TensorProto.DOUBLE),
        helper.make_node("Add", ["tree_sum", "tree_offset"], ["raw"]),
    ]
    initializers = [numpy_helper.from_array(ensemble.offset.astype(np.float64), "tree_offset")]
    if ensemble.head == "value":
        return (
            nodes,
            initializers,
            [helper.make_tensor_value_info("raw", TensorProto.DOUBLE, [None, 1])],
        )
    classes = np.asarray(model.classes_)
    if ensemble.head == "probabilities":
        nodes.append(helper.make_node("Identity", ["raw"], ["probabilities"]))
    elif ensemble.head == "softmax":
        nodes.append(helper.make_node("Softmax", ["raw"], ["probabilities"], axis=1))
    else:  # binary log-loss: [1 - p, p], and class 1 where the raw score is >= 0
        initializers.append(numpy_helper.from_array(np.array([1.0]), "one"))
        initializers.append(numpy_helper.from_array(np.array([0.0]), "zero"))
        nodes += [
            helper.make_node("Sigmoid", ["raw"], ["p1"]),
            helper.make_node("Sub", ["one", "p1"], ["p0"]),
            helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
            helper.make_node("GreaterOrEqual", ["raw", "zero"], ["positive"]),
            helper.make_node("Cast", ["positive"], ["index2d"], to=TensorProto.INT64),
        ]
    if ensemble.head != "sigmoid":  # the first of equal maxima, as numpy's argmax
        nodes.append(
            helper.make_node(
                "ArgMax", ["probabilities"], ["index2d"], axis=1, keepdims=1, select_last_index=0
            )
        )
    initializers.append(numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"))
    nodes.append(helper.make_node("Reshape", ["index2d", "flat"], ["index"]))
    values, label_type = _label_values(classes)
    if values is None:
        nodes.append(helper.make_node("Identity", ["index"], ["label"]))
    else:
        initializers.append(numpy_helper.from_array(values, "class_labels"))
        nodes.append(helper.make_node("Gather", ["class_labels", "index"], ["label"], axis=0))
    outputs = [
        helper.make_tensor_value_info("label", label_type, [None]),
        helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, len(classes)]),
    ]
    return nodes, initializers, outputs


def convert_trees(model: Any, types: list[tuple[str, Any]]) -> Any | None:
    """A double-precision ONNX graph of ``model`` (a tree model, or a pipeline ending in one).

    ``types`` are skl2onnx input types, doubles for numbers. None when the model, or a step of
    its preprocessing, is outside what this covers: the caller then uses skl2onnx's float path.
    """
    import skl2onnx
    from onnx import TensorProto, helper

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    ensemble = ensemble_of(final)
    if ensemble is None:
        return None
    if hasattr(model, "steps") and len(model.steps) > 1:
        with warnings.catch_warnings():  # skl2onnx reads attributes scikit-learn deprecates
            warnings.simplefilter("ignore", FutureWarning)
            graph = skl2onnx.convert_sklearn(
                model[:-1],
                initial_types=types,
                target_opset={"": ONNX_OPSET, "ai.onnx.ml": ML_OPSET},
            )
        if len(graph.graph.output) != 1 or not _double_imputers(graph, model):
            return None
        features = graph.graph.output[0]
        if features.type.tensor_type.elem_type != TensorProto.DOUBLE:
            return None  # a step that computes in float32 would undo the point of this path
        del graph.graph.output[:]
        feature_name = features.name
    else:
        ((name, kind),) = types
        graph = helper.make_model(
            helper.make_graph(
                [],
                "trees",
                [helper.make_tensor_value_info(name, TensorProto.DOUBLE, kind.shape)],
                [],
            )
        )
        feature_name = name
    nodes, initializers, outputs = _head(ensemble, final, feature_name)
    graph.graph.node.extend(nodes)
    graph.graph.initializer.extend(initializers)
    graph.graph.output.extend(outputs)
    versions = {o.domain: o for o in graph.opset_import}
    for domain, version in (("", ONNX_OPSET), ("ai.onnx.ml", ML_OPSET)):
        if domain in versions:
            versions[domain].version = max(versions[domain].version, version)
        else:
            graph.opset_import.append(helper.make_opsetid(domain, version))
    return graph
