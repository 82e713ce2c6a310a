#!/usr/bin/env python3
"""Export a fitted scikit-learn tree ensemble to Tandem's forest JSON (docs/forest-format.md).

    tools/export_sklearn.py FITTED.joblib OUT.json

FITTED is a joblib or pickle file holding one fitted estimator: RandomForestClassifier / Regressor,
ExtraTreesClassifier / Regressor, DecisionTreeClassifier / Regressor (ExtraTreeClassifier /
Regressor too), GradientBoostingClassifier (binary or multiclass) / Regressor, with one output.
Anything else is refused with one line on stderr and exit status 2.

The export reads public attributes (estimators_, tree_.children_left / children_right / feature /
threshold / value / missing_go_to_left, classes_, n_features_in_, feature_names_in_, init_,
learning_rate, loss) and writes leaf values already in the form the installed scikit-learn's
predict_proba / predict adds them, computed with numpy as scikit-learn computes them, so Tandem's
sums reproduce scikit-learn's bits (the argument is in docs/forest-format.md). The values depend on
the installed version (before 1.4 a classifier tree's predict_proba divides the leaf's counts by
their sum; from 1.4 tree_.value holds fractions and predict_proba returns them as they are), so run
the exporter with the scikit-learn you would predict with.

Other code can call export(estimator) -> dict and write_json(doc, path) (examples/titanic does).
"""
import json
import os
import pickle
import sys
import tempfile

import numpy as np
import sklearn

FORMAT = "tandem-forest"
FORMAT_VERSION = 1


class Refused(Exception):
    """A model this format cannot describe exactly; the message says what to do instead."""


def _version():
    parts = []
    for p in sklearn.__version__.split(".")[:2]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _name(est):
    return type(est).__name__


def _check_fitted(est):
    if not hasattr(est, "n_features_in_"):
        raise Refused(f"{_name(est)} is not fitted (no n_features_in_): fit it before exporting")


def _classes(est):
    classes = np.asarray(est.classes_)
    if classes.ndim != 1:
        raise Refused(f"{_name(est)} has several outputs (classes_ of shape {classes.shape}); "
                      "Tandem reads single-output models: fit one model per output")
    if classes.dtype.kind not in "biuf":
        raise Refused(f"{_name(est)} has non-numeric classes ({list(classes[:3])}...); Tandem's classes are "
                      "numbers: fit on y encoded as integers (sklearn.preprocessing.LabelEncoder) and map "
                      "the predictions back yourself")
    out = []
    for c in classes.tolist():
        f = float(c)
        if f != c or not np.isfinite(f):
            raise Refused(f"class {c!r} of {_name(est)} is not exactly a float64; encode the classes as "
                          "small integers")
        out.append(f)
    return out


def _single_output(est):
    if getattr(est, "n_outputs_", 1) != 1:
        raise Refused(f"{_name(est)} has {est.n_outputs_} outputs; Tandem reads single-output models: "
                      "fit one model per output")


def _tree_arrays(tree, nan_by_tree):
    """The node arrays of one sklearn Tree, and which node indices are leaves.

    nan_by_tree: route NaN by the tree's missing_go_to_left (scikit-learn >= 1.3 trees and forests);
    otherwise NaN goes right at every split (what a plain `x <= t` does, as GradientBoosting's
    predict_stages and scikit-learn < 1.3 trees compare)."""
    left = np.asarray(tree.children_left, dtype=np.int64)
    right = np.asarray(tree.children_right, dtype=np.int64)
    feature = np.asarray(tree.feature, dtype=np.int64)
    threshold = np.asarray(tree.threshold, dtype=np.float64)
    n = left.shape[0]
    if nan_by_tree and hasattr(tree, "missing_go_to_left"):
        missing = np.asarray(tree.missing_go_to_left, dtype=np.int64)
    else:
        missing = np.zeros(n, dtype=np.int64)
    is_leaf = left == -1
    if not np.array_equal(is_leaf, right == -1):
        raise Refused("a tree has a node with one child; not a scikit-learn tree this exporter knows")
    # scikit-learn >= 1.3 splits "missing or not" with threshold +inf (every number goes left);
    # the JSON writes it as the string "inf".
    if np.any(np.isnan(threshold[~is_leaf])):
        raise Refused("a split threshold is NaN")
    return {"left": left, "right": right, "feature": feature, "threshold": threshold,
            "missing_left": np.where(is_leaf, 0, missing)}, is_leaf


def _classifier_leaf_values(tree, n_classes):
    """Each node's class probabilities exactly as DecisionTreeClassifier.predict_proba returns them
    for a row reaching that node (the computation is per row, so doing it per node gives the same
    bits): before 1.4 the counts divided by their sum (a zero sum divides by 1), from 1.4 the stored
    fractions as they are."""
    value = np.asarray(tree.value, dtype=np.float64)
    if value.shape[1] != 1 or value.shape[2] != n_classes:
        raise Refused(f"a tree's value has shape {value.shape}, expected (nodes, 1, {n_classes})")
    # tree_.predict's rows, [:, :n_classes_]; a copy, since the division below is in place.
    proba = np.array(value[:, 0, :n_classes], dtype=np.float64, order="C", copy=True)
    if _version() < (1, 4):
        normalizer = proba.sum(axis=1)[:, np.newaxis]
        normalizer[normalizer == 0.0] = 1.0
        proba /= normalizer
    return proba


def _tree_doc(tree, output, leaf_rows, nan_by_tree):
    arrays, is_leaf = _tree_arrays(tree, nan_by_tree)
    values = np.asarray(leaf_rows, dtype=np.float64)[is_leaf].reshape(-1)
    if not np.all(np.isfinite(values)):
        raise Refused("a leaf value is not finite")
    doc = {"output": output}
    doc.update(arrays)
    doc["values"] = values
    return doc


def _producer(est):
    return {"tool": "tools/export_sklearn.py", "library": "scikit-learn", "library_version": sklearn.__version__,
            "estimator": _name(est)}


def _header(est, objective, n_outputs, leaf_width, base, divisor, link, link_scale, classes, proba_columns):
    names = getattr(est, "feature_names_in_", None)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "producer": _producer(est),
        "objective": objective,
        "n_features": int(est.n_features_in_),
        "feature_names": [str(n) for n in names] if names is not None else [],
        "input": "f32",
        "comparison": "less_equal",
        "sum": "f64",
        "n_outputs": n_outputs,
        "leaf_width": leaf_width,
        "base": [float(b) for b in base],
        "divisor": float(divisor),
        "link": link,
        "link_scale": float(link_scale),
        "classes": classes,
        "proba_columns": proba_columns,
    }


def _export_trees(est, trees, classifier):
    """Decision trees and averaging forests: the per-tree predict_proba (classifiers) or predict
    (regressors) summed in float64 in tree order from zeros, divided by the tree count."""
    _single_output(est)
    nan_by_tree = True
    if classifier:
        classes = _classes(est)
        k = len(classes)
        docs = []
        for t in trees:
            if len(np.atleast_1d(t.classes_)) != k:
                raise Refused(f"a tree of {_name(est)} has {len(t.classes_)} classes, the model {k}")
            docs.append(_tree_doc(t.tree_, 0, _classifier_leaf_values(t.tree_, k), nan_by_tree))
        n_outputs, proba_columns = k, k
    else:
        classes = []
        docs = [_tree_doc(t.tree_, 0, np.asarray(t.tree_.value, dtype=np.float64)[:, 0, 0], nan_by_tree)
                for t in trees]
        n_outputs, proba_columns = 1, 1
    single = len(trees) == 1 and not hasattr(est, "estimators_")
    # A lone tree's predict returns the leaf value itself; -0.0 is the one base for which
    # base + v == v for every v (+0.0 + -0.0 would be +0.0). A forest starts from np.zeros: +0.0.
    base = [-0.0 if single else 0.0] * n_outputs
    divisor = 1 if single else len(trees)
    doc = _header(est, _name(est), n_outputs, n_outputs, base, divisor, "identity", 1, classes, proba_columns)
    doc["trees"] = docs
    return doc


def _export_gradient_boosting(est, classifier):
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = est.init_
    if not (isinstance(init, str) and init == "zero") and not isinstance(init, (DummyClassifier, DummyRegressor)):
        raise Refused(f"{_name(est)} has init={type(init).__name__}: its initial prediction depends on the row; "
                      "Tandem exports the default init (or init='zero') only")
    f = int(est.n_features_in_)
    # The initial raw prediction, by scikit-learn's own code; it is the same for every row with
    # the default init (a Dummy estimator ignores X), which two different rows confirm.
    rows = [np.zeros((1, f), dtype=np.float32), np.full((1, f), 1.5, dtype=np.float32)]
    inits = [np.asarray(est._raw_predict_init(r), dtype=np.float64) for r in rows]
    if not np.array_equal(inits[0], inits[1]):
        raise Refused(f"{_name(est)}'s initial prediction depends on the row; Tandem cannot export it")
    base = inits[0].reshape(-1)
    if not np.all(np.isfinite(base)):
        raise Refused(f"{_name(est)}'s initial prediction is not finite")
    stages = est.estimators_
    n_stages, k = stages.shape
    if base.shape[0] != k:
        raise Refused(f"{_name(est)}: {base.shape[0]} initial predictions for {k} trees per stage")
    lr = float(est.learning_rate)
    loss = est.loss if isinstance(est.loss, str) else type(est.loss).__name__
    docs = []
    for i in range(n_stages):
        for j in range(k):
            tree = stages[i, j].tree_
            # predict_stages adds `scale * value[leaf]`: the same float64 product, made here.
            leaf = lr * np.asarray(tree.value, dtype=np.float64)[:, 0, 0]
            # predict_stages compares `x <= threshold` with no missing-value branch: NaN goes right.
            docs.append(_tree_doc(tree, j, leaf, nan_by_tree=False))
    if classifier:
        classes = _classes(est)
        if k == 1:
            link, scale, columns = "sklearn_expit", (2.0 if loss == "exponential" else 1.0), 2
        else:
            # The form of the softmax changed when GradientBoosting moved to sklearn._loss (1.4).
            link, scale, columns = ("sklearn_softmax" if _version() >= (1, 4) else "sklearn_logsumexp"), 1.0, k
        if columns != len(classes):
            raise Refused(f"{_name(est)}: {len(classes)} classes for {columns} probability columns")
    else:
        classes, link, scale, columns = [], "identity", 1.0, 1
    doc = _header(est, f"{_name(est)}({loss})", k, 1, base, 1, link, scale, classes, columns)
    doc["trees"] = docs
    return doc


def export(est):
    """The Tandem forest JSON document (a dict) of a fitted estimator; raises Refused."""
    from sklearn import ensemble, tree

    name = _name(est)
    if hasattr(est, "steps") or hasattr(est, "transformer_list"):
        raise Refused(f"{name} is a pipeline: export its final estimator (pipe[-1]) and apply the preprocessing "
                      "steps to the features yourself (Tandem reads the features the forest sees)")
    if name.startswith("HistGradientBoosting"):
        raise Refused(f"{name} is not supported (its trees bin the features); use a GradientBoosting or "
                      "RandomForest model, or LightGBM (whose text model Tandem reads)")
    forests_c = (ensemble.RandomForestClassifier, ensemble.ExtraTreesClassifier)
    forests_r = (ensemble.RandomForestRegressor, ensemble.ExtraTreesRegressor)
    if type(est) in forests_c or type(est) in forests_r:
        _check_fitted(est)
        return _export_trees(est, list(est.estimators_), type(est) in forests_c)
    if type(est) in (tree.DecisionTreeClassifier, tree.ExtraTreeClassifier):
        _check_fitted(est)
        return _export_trees(est, [est], True)
    if type(est) in (tree.DecisionTreeRegressor, tree.ExtraTreeRegressor):
        _check_fitted(est)
        return _export_trees(est, [est], False)
    if type(est) in (ensemble.GradientBoostingClassifier, ensemble.GradientBoostingRegressor):
        _check_fitted(est)
        return _export_gradient_boosting(est, type(est) is ensemble.GradientBoostingClassifier)
    raise Refused(f"{type(est).__module__}.{name} is not supported; Tandem exports RandomForest*, ExtraTrees*, "
                  "DecisionTree*, ExtraTree* and GradientBoosting* estimators with one output")


def _numbers(a):
    """A JSON array of round-trip numbers: repr of a Python float is the shortest string that
    reads back to the same double; integers as integers."""
    a = np.asarray(a)
    if a.dtype.kind in "iub":
        return "[" + ",".join(map(str, a.tolist())) + "]"
    a = a.astype(np.float64)
    if np.all(np.isfinite(a)):
        return "[" + ",".join(map(repr, a.tolist())) + "]"
    # JSON has no infinities: thresholds of +-inf are the strings "inf" and "-inf".
    return "[" + ",".join(repr(v) if np.isfinite(v) else ('"inf"' if v > 0 else '"-inf"') for v in a.tolist()) + "]"


def dumps(doc):
    """The document as text: the header as plain JSON, one tree a line with its arrays."""
    head = {k: v for k, v in doc.items() if k != "trees"}
    lines = ["{"]
    for k, v in head.items():
        lines.append(f"{json.dumps(k)}: {json.dumps(v, allow_nan=False)},")
    lines.append('"trees": [')
    trees = []
    for t in doc["trees"]:
        fields = [f'"output": {int(t["output"])}']
        for key in ("left", "right", "feature", "threshold", "missing_left", "values"):
            fields.append(f'"{key}": {_numbers(t[key])}')
        trees.append("{" + ", ".join(fields) + "}")
    lines.append(",\n".join(trees))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def write_json(doc, path):
    """Writes the document whole or not at all (a temporary file beside it, then a rename)."""
    text = dumps(doc)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".export-", dir=folder)
    try:
        mask = os.umask(0)
        os.umask(mask)
        os.fchmod(fd, 0o666 & ~mask)  # as an ordinary new file, not mkstemp's 0600
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_estimator(path):
    try:
        import joblib
        return joblib.load(path)
    except ImportError:
        with open(path, "rb") as f:
            return pickle.load(f)


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print("usage: export_sklearn.py FITTED.joblib OUT.json", file=sys.stderr)
        return 2
    try:
        est = load_estimator(argv[1])
    except Exception as e:  # one line: the file and why it could not be read
        print(f"cannot load '{argv[1]}': {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              file=sys.stderr)
        return 2
    try:
        doc = export(est)
    except Refused as e:
        print(f"cannot export '{argv[1]}': {e}", file=sys.stderr)
        return 2
    try:
        write_json(doc, argv[2])
    except OSError as e:
        print(f"cannot write '{argv[2]}': {e.strerror or e}", file=sys.stderr)
        return 2
    nodes = sum(len(t["left"]) for t in doc["trees"])
    print(f"{argv[2]}: {doc['objective']}, {len(doc['trees'])} trees, {nodes} nodes "
          f"(scikit-learn {sklearn.__version__})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
