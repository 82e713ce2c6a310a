#!/usr/bin/env python3
"""Fixtures for test_forest_sklearn.cpp: small fitted scikit-learn models exported with
tools/export_sklearn.py, and scikit-learn's own outputs on chosen inputs.

Made with two scikit-learn versions, because the leaf values, the missing-value routing and the
softmax changed between them (docs/forest-format.md):

    /usr/bin/python3 workloads/forest/testdata/sklearn/make_fixtures.py            # -> debian/
        Debian 12: scikit-learn 1.2.1, numpy 1.24.2, scipy 1.10.1 (tree_.value holds weighted
        counts; predict refuses NaN)
    python3 -m venv /work/venv-sklearn && /work/venv-sklearn/bin/pip install scikit-learn pandas
    /work/venv-sklearn/bin/python workloads/forest/testdata/sklearn/make_fixtures.py  # -> recent/
        PyPI: scikit-learn 1.9.1, numpy 2.4.6, scipy 1.17.1 (tree_.value holds fractions; trees
        route NaN by missing_go_to_left; one forest is trained with NaN in X)

Each model NAME gives NAME.json (the export) and NAME.csv: a header, then one row per input:
the features x0.. (float64, as given to scikit-learn, which converts them to float32), the
margins m0.. (forests: predict_proba / predict with n_jobs=1; GradientBoosting: decision_function),
the probabilities p0.. (predict_proba; regressors: predict) and the predicted label (predict).
Numbers are repr (round-trip), NaN is "nan". The inputs are training rows and rows built from the
model's own thresholds: each threshold as a double, its double neighbours, the float32 nearest to it
and that float's neighbours, +0.0, -0.0 and (where the version accepts it) NaN.
"""
import os
import sys

import numpy as np
import sklearn
from sklearn import datasets, ensemble, tree

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "tools"))
import export_sklearn  # noqa: E402

RECENT = export_sklearn._version() >= (1, 4)
OUT = os.path.join(HERE, "recent" if RECENT else "debian")


def data(kind, seed, n=400, features=6, classes=3):
    if kind == "regression":
        X, y = datasets.make_regression(n_samples=n, n_features=features, noise=5.0, random_state=seed)
    else:
        X, y = datasets.make_classification(n_samples=n, n_features=features, n_informative=4, n_redundant=1,
                                            n_classes=classes, n_clusters_per_class=1, random_state=seed)
    # Round some columns so splits fall between repeated values, as real data does.
    X[:, 0] = np.round(X[:, 0], 1)
    return X, y


def accepts_nan(est, f):
    row = np.zeros((1, f))
    row[0, 0] = np.nan
    try:
        est.predict(row)
        return True
    except ValueError:
        return False


def probe_rows(doc, X, seed, nan_ok, n_probe=160):
    """Training rows, then rows whose features sit on and beside the model's thresholds."""
    rng = np.random.default_rng(seed)
    f = X.shape[1]
    per_feature = [[] for _ in range(f)]
    for t in doc["trees"]:
        for feat, thr, left in zip(t["feature"], t["threshold"], t["left"]):
            if left != -1 and np.isfinite(thr):  # +inf: the "missing or not" split of NaN-trained trees
                per_feature[int(feat)].append(float(thr))
    rows = [X[i] for i in rng.choice(len(X), 40, replace=False)]
    specials = [0.0, -0.0] + ([np.nan] if nan_ok else [])
    for _ in range(n_probe):
        row = np.empty(f)
        for j in range(f):
            if not per_feature[j] or rng.random() < 0.12:
                row[j] = specials[rng.integers(len(specials))] if per_feature[j] or rng.random() < 0.5 else X[rng.integers(len(X)), j]
                continue
            t = per_feature[j][rng.integers(len(per_feature[j]))]
            t32 = np.float32(t)
            choices = [t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf), float(t32),
                       float(np.nextafter(t32, np.float32(np.inf))), float(np.nextafter(t32, np.float32(-np.inf)))]
            row[j] = choices[rng.integers(len(choices))]
        rows.append(row)
    return np.array(rows)


def write_case(name, est, X, seed, margins_of):
    doc = export_sklearn.export(est)
    export_sklearn.write_json(doc, os.path.join(OUT, name + ".json"))
    rows = probe_rows(doc, X, seed, accepts_nan(est, X.shape[1]))
    margins = np.asarray(margins_of(est, rows), dtype=np.float64).reshape(len(rows), -1)
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(rows)
    else:
        proba = est.predict(rows).reshape(-1, 1)
    label = est.predict(rows).astype(np.float64)
    f, o, p = X.shape[1], margins.shape[1], proba.shape[1]
    header = [f"x{i}" for i in range(f)] + [f"m{i}" for i in range(o)] + [f"p{i}" for i in range(p)] + ["predict"]
    with open(os.path.join(OUT, name + ".csv"), "w") as out:
        out.write(",".join(header) + "\n")
        for r in range(len(rows)):
            vals = list(rows[r]) + list(margins[r]) + list(proba[r]) + [label[r]]
            out.write(",".join(repr(float(v)) for v in vals) + "\n")
    size = os.path.getsize(os.path.join(OUT, name + ".json"))
    print(f"{name}: {len(doc['trees'])} trees, {sum(len(t['left']) for t in doc['trees'])} nodes, {size} bytes, "
          f"{len(rows)} rows{' (NaN included)' if accepts_nan(est, X.shape[1]) else ''}")


def forest_margins(est, rows):
    est.set_params(n_jobs=1)  # tree order: with threads scikit-learn's own sum order varies
    return est.predict_proba(rows) if hasattr(est, "predict_proba") else est.predict(rows)


def tree_margins(est, rows):
    return est.predict_proba(rows) if hasattr(est, "predict_proba") else est.predict(rows)


def gb_margins(est, rows):
    return est.decision_function(rows) if hasattr(est, "decision_function") else est.predict(rows)


def main():
    os.makedirs(OUT, exist_ok=True)
    Xc, yc = data("classification", 1)
    Xr, yr = data("regression", 2)
    Xb, yb = data("classification", 3, classes=2)
    X10, y10 = data("classification", 4, n=600, features=8, classes=10)
    common = dict(n_jobs=1, random_state=0)
    write_case("rf_classifier", ensemble.RandomForestClassifier(n_estimators=20, max_depth=6, **common).fit(Xc, yc),
               Xc, 10, forest_margins)
    write_case("rf_regressor", ensemble.RandomForestRegressor(n_estimators=15, max_depth=6, **common).fit(Xr, yr),
               Xr, 11, forest_margins)
    write_case("extra_trees_classifier",
               ensemble.ExtraTreesClassifier(n_estimators=15, max_depth=6, **common).fit(Xc, yc), Xc, 12,
               forest_margins)
    write_case("extra_trees_regressor",
               ensemble.ExtraTreesRegressor(n_estimators=10, max_depth=6, **common).fit(Xr, yr), Xr, 13,
               forest_margins)
    write_case("decision_tree_classifier",
               tree.DecisionTreeClassifier(max_depth=7, random_state=0).fit(Xc, yc), Xc, 14, tree_margins)
    write_case("decision_tree_regressor",
               tree.DecisionTreeRegressor(max_depth=7, random_state=0).fit(Xr, yr), Xr, 15, tree_margins)
    gb = dict(max_depth=3, random_state=0, learning_rate=0.3)
    write_case("gb_binary", ensemble.GradientBoostingClassifier(n_estimators=25, **gb).fit(Xb, yb), Xb, 16,
               gb_margins)
    write_case("gb_binary_exponential",
               ensemble.GradientBoostingClassifier(n_estimators=10, loss="exponential", **gb).fit(Xb, yb), Xb, 17,
               gb_margins)
    write_case("gb_multiclass", ensemble.GradientBoostingClassifier(n_estimators=10, **gb).fit(Xc, yc), Xc, 18,
               gb_margins)
    write_case("gb_multiclass_10", ensemble.GradientBoostingClassifier(n_estimators=4, **gb).fit(X10, y10), X10, 19,
               gb_margins)
    write_case("gb_regressor", ensemble.GradientBoostingRegressor(n_estimators=25, **gb).fit(Xr, yr), Xr, 20,
               gb_margins)
    if RECENT:
        # Missing values in training: the trees learn where NaN goes (missing_go_to_left).
        Xn = Xc.copy()
        rng = np.random.default_rng(5)
        Xn[rng.random(Xn.shape) < 0.15] = np.nan
        write_case("rf_classifier_nan",
                   ensemble.RandomForestClassifier(n_estimators=15, max_depth=6, **common).fit(Xn, yc), Xn, 21,
                   forest_margins)
    else:
        # Titanic-like: the published example's model kind (default RandomForestClassifier, full
        # depth) on synthetic data shaped like its 7 scaled features, so exactness on that kind of
        # forest is tested without the data.
        rng = np.random.default_rng(6)
        n = 300
        Xt = np.column_stack([rng.integers(1, 4, n), rng.integers(0, 2, n), np.round(rng.normal(29, 13, n), 0),
                              rng.integers(0, 4, n), rng.integers(0, 3, n), np.round(rng.lognormal(2.7, 1, n), 2),
                              rng.integers(0, 3, n)]).astype(np.float64)
        Xt = (Xt - Xt.mean(axis=0)) / Xt.std(axis=0)
        yt = ((Xt[:, 1] > 0) ^ (rng.random(n) < 0.2)).astype(int)
        write_case("titanic_like", ensemble.RandomForestClassifier(n_estimators=12, random_state=42).fit(Xt, yt),
                   Xt, 22, forest_margins)
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__} -> {OUT}")


if __name__ == "__main__":
    main()
