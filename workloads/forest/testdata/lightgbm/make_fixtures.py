"""LightGBM text models and LightGBM's own predictions for them, for test_forest_lightgbm.cpp.

Made with LightGBM 4.7.0 and numpy 2.4.6 (PyPI wheels, Python 3.11, x86-64 glibc):
    python3 -m venv /work/venv-lightgbm && /work/venv-lightgbm/bin/pip install lightgbm numpy pandas
    cd workloads/forest/testdata/lightgbm && /work/venv-lightgbm/bin/python make_fixtures.py

For each model NAME.txt (booster.save_model) this writes NAME.csv: a first line
"features=F raw=R pred=P", then one line per input row: F input values, LightGBM's
predict(raw_score=True) (R values) and predict() (P values), every float as Python's repr (shortest
round-trip digits; nan, inf, -inf). Predictions are made by a Booster loaded back from the saved
file, so they are what the file means (the objective's sigmoid is written with 6 digits).

Models: binary_nan (NaN in training: missing type NaN; sigmoid 0.123456789, written "0.123457"),
binary_zero (zero_as_missing: missing type Zero), regression (missing type None), multiclass (3
classes), multiclassova (sigmoid 2.5), categorical (130 categories: bitsets of 5 words; and a
3-category feature: one-hot splits), rf_binary (boosting=rf: average_output), constant (one tree
with one leaf), and two written by hand and loaded by LightGBM (model_text): edges (thresholds
at and inside +-kZeroThreshold with each missing type, +-inf thresholds, a one-leaf tree) and
sigmoid ("sigmoid:1.00544", which LightGBM reads as 1.0054400000000001).

Inputs: training rows, then each split threshold of the model exactly and its two neighbours in
double (written into a training row), then per feature the values around zero that LightGBM
treats specially (+-0.0, +-1e-35, +-kZeroThreshold = +-double(1e-35f) and their neighbours),
NaN, +-inf, huge values; for categorical features negative, non-integer, and too large categories.
"""
import math

import lightgbm as lgb
import numpy as np

K_ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold = 1e-35f, as a double
SPECIAL = [0.0, -0.0, math.nan, math.inf, -math.inf, 1e-35, -1e-35, K_ZERO, -K_ZERO,
           math.nextafter(K_ZERO, math.inf), math.nextafter(K_ZERO, 0.0),
           math.nextafter(-K_ZERO, -math.inf), math.nextafter(-K_ZERO, 0.0),
           5e-36, -5e-36, 5e-324, -5e-324, 1e-300, 0.5, -0.3, 1e308, -1e308, 1.7976931348623157e308]
CATEGORY_SPECIAL = [-1.0, -0.5, -1e-36, 0.0, -0.0, 0.5, 1.0, 1.9999999999999998, 3.7, 31.0, 32.0, 33.5,
                    63.0, 64.0, 95.0, 96.0, 127.0, 128.0, 1000.0, 2147483647.0, 2147483648.0,
                    4294967296.0, 1e10, 1e300, math.inf, -math.inf, math.nan]


def numerical_thresholds(booster):
    """(feature, threshold) of every numerical split in the model."""
    out = set()
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            n = stack.pop()
            if "split_index" not in n:
                continue
            if n["decision_type"] == "<=":
                out.add((n["split_feature"], float(n["threshold"])))
            stack += [n["left_child"], n["right_child"]]
    return sorted(out)


def thresholds_from_text(text):
    """(feature, threshold) of every numerical split, read from the text itself (exact digits)."""
    out = set()
    for block in text.split("\nTree=")[1:]:
        kv = dict(line.split("=", 1) for line in block.split("\n")[1:] if "=" in line)
        if int(kv["num_leaves"]) < 2:
            continue
        for f, t, d in zip(kv["split_feature"].split(), kv["threshold"].split(), kv["decision_type"].split()):
            if int(d) & 1 == 0:
                out.add((int(f), float(t)))
    return sorted(out)


def inputs_for(text, X, categorical, rng, n_train=60, n_thresholds=120):
    rows = [X[i].copy() for i in rng.choice(len(X), n_train, replace=False)]
    ts = thresholds_from_text(text)
    if len(ts) > n_thresholds:
        ts = [ts[i] for i in sorted(rng.choice(len(ts), n_thresholds, replace=False))]
    for f, t in ts:
        for v in (t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)):
            r = X[rng.integers(len(X))].copy()
            r[f] = v
            rows.append(r)
    for f in range(X.shape[1]):
        values = CATEGORY_SPECIAL + [float(c) for c in range(0, 130, 3)] if f in categorical else SPECIAL
        for v in values:
            r = X[rng.integers(len(X))].copy()
            r[f] = v
            rows.append(r)
    return np.array(rows, dtype=np.float64)


def write(name, booster, X, categorical=(), rng=None, inputs=None):
    booster.save_model(name + ".txt")  # the same text as booster.model_to_string()
    text = open(name + ".txt").read()
    loaded = lgb.Booster(model_file=name + ".txt")
    if inputs is None:
        inputs = inputs_for(text, X, set(categorical), rng)
    raw = np.asarray(loaded.predict(inputs, raw_score=True), dtype=np.float64).reshape(len(inputs), -1)
    pred = np.asarray(loaded.predict(inputs), dtype=np.float64).reshape(len(inputs), -1)
    with open(name + ".csv", "w") as f:
        f.write(f"features={inputs.shape[1]} raw={raw.shape[1]} pred={pred.shape[1]}\n")
        for x, r, p in zip(inputs, raw, pred):
            f.write(",".join(repr(float(v)) for v in [*x, *r, *p]) + "\n")


def data(rng, n, nan_frac=0.0):
    X = rng.normal(size=(n, 5))
    X[rng.random(n) < 0.25, 1] = 0.0               # many zeros: splits at +-kZeroThreshold
    X[rng.random(n) < 0.05, 1] = 1e-36             # values LightGBM treats as zero
    X[:, 2] = np.round(X[:, 2] * 4) / 4            # few distinct values
    if nan_frac:
        X[rng.random(n) < nan_frac, 0] = np.nan
        X[rng.random(n) < nan_frac, 3] = np.nan
    return X


def score(X):
    x0 = np.nan_to_num(X[:, 0], nan=0.7)
    return x0 + 2 * (X[:, 1] > 0) - (X[:, 1] < 0) + np.sin(3 * X[:, 2]) + 0.5 * np.nan_to_num(X[:, 3])


# A hand-written model for the cases training rarely produces: thresholds at +-kZeroThreshold and
# inside (-kZeroThreshold, kZeroThreshold) with every missing type, +-inf thresholds, a one-leaf
# tree. Leaf values are distinct powers of two, so a wrong leaf anywhere changes the sum.
EDGE_TREES = [
    [],  # one leaf
    [(0, "-1.0000000180025095e-35", 0, -1, 1), (0, "1.0000000180025095e-35", 0, 2, -2),
     (1, "-5e-36", 2, -3, 3), (1, "5e-36", 0, -4, 4), (2, "0", 0, -5, -6)],
    [(1, "inf", 8, 1, -1), (2, "-inf", 10, -2, 2), (3, "-1.0000000180025095e-35", 8, -3, 3),
     (3, "1e-300", 10, -4, -5)],
    [(0, "0.5", 4, 1, -1), (1, "-0.29999999999999999", 6, -2, 2), (2, "1.0000000180025095e-35", 4, -3, 3),
     (3, "-1.0000000180025095e-35", 6, -4, -5)],
    [(3, "-inf", 0, -1, 1), (2, "inf", 0, 2, -2), (0, "-0.29999999999999999", 2, -3, -4)],
]


# A binary model whose sigmoid, 1.00544, LightGBM's Common::Atof reads as 1.0054400000000001 (one
# double above the correctly rounded 1.00544); margins from -15 to 15 make that difference show in
# the probabilities.
SIGMOID_TREES = [[(0, repr(i + 0.5), 0, -(i + 1), i + 1 if i < 30 else -32) for i in range(31)]]


def model_text(trees, features, objective, value):
    lines = ["tree", "version=v4", "num_class=1", "num_tree_per_iteration=1", "label_index=0",
             f"max_feature_idx={features - 1}", f"objective={objective}",
             "feature_names=" + " ".join(f"f{i}" for i in range(features)),
             "feature_infos=" + " ".join(["none"] * features), ""]
    for k, nodes in enumerate(trees):
        leaves = len(nodes) + 1
        values = [repr(value(k, j)) for j in range(leaves)]
        col = lambda i: " ".join(str(n[i]) for n in nodes)
        lines += [f"Tree={k}", f"num_leaves={leaves}", "num_cat=0", f"split_feature={col(0)}",
                  f"threshold={col(1)}", f"decision_type={col(2)}", f"left_child={col(3)}",
                  f"right_child={col(4)}", "leaf_value=" + " ".join(values), "is_linear=0", "shrinkage=1", "", ""]
    lines += ["end of trees", ""]
    return "\n".join(lines)


def main():
    rng = np.random.default_rng(20240611)
    common = dict(verbose=-1, num_threads=1, seed=7, deterministic=True)

    X = data(rng, 3000, nan_frac=0.15)
    y = (score(X) + rng.normal(size=len(X)) * 0.7 > 0.5).astype(int)
    b = lgb.train(dict(common, objective="binary", sigmoid=0.123456789, num_leaves=15, min_data_in_leaf=5),
                  lgb.Dataset(X, y), num_boost_round=12)
    write("binary_nan", b, X, rng=rng)

    b = lgb.train(dict(common, objective="binary", zero_as_missing=True, num_leaves=15, min_data_in_leaf=5),
                  lgb.Dataset(X, y), num_boost_round=12)
    write("binary_zero", b, X, rng=rng)

    X = data(rng, 3000)
    y = score(X) + rng.normal(size=len(X)) * 0.3
    b = lgb.train(dict(common, objective="regression", num_leaves=31, min_data_in_leaf=3),
                  lgb.Dataset(X, y), num_boost_round=15)
    write("regression", b, X, rng=rng)

    X = data(rng, 3000, nan_frac=0.1)
    s = score(X)
    y = np.digitize(s + rng.normal(size=len(X)) * 0.5, [0.0, 1.5])
    b = lgb.train(dict(common, objective="multiclass", num_class=3, num_leaves=7, min_data_in_leaf=5),
                  lgb.Dataset(X, y), num_boost_round=8)
    write("multiclass", b, X, rng=rng)
    b = lgb.train(dict(common, objective="multiclassova", num_class=3, sigmoid=2.5, num_leaves=7,
                       min_data_in_leaf=5), lgb.Dataset(X, y), num_boost_round=6)
    write("multiclassova", b, X, rng=rng)

    # Categorical: feature 0 has 130 categories (bitsets over several 32-bit words), feature 1
    # has 3 (one-hot splits); NaN in feature 3.
    n = 4000
    X = data(rng, n, nan_frac=0.1)
    X[:, 0] = rng.integers(0, 130, size=n)
    X[:, 4] = rng.integers(0, 3, size=n)
    effect = rng.normal(size=130) * 2
    y = effect[X[:, 0].astype(int)] + (X[:, 4] == 1) + np.sin(3 * X[:, 2]) + rng.normal(size=n) * 0.3
    b = lgb.train(dict(common, objective="regression", num_leaves=15, min_data_in_leaf=3, max_cat_threshold=64,
                       cat_smooth=1, cat_l2=1, min_data_per_group=3),
                  lgb.Dataset(X, y, categorical_feature=[0, 4]), num_boost_round=10)
    write("categorical", b, X, categorical=[0, 4], rng=rng)

    X = data(rng, 3000, nan_frac=0.1)
    y = (score(X) + rng.normal(size=len(X)) * 0.7 > 0.5).astype(int)
    b = lgb.train(dict(common, boosting="rf", objective="binary", bagging_freq=1, bagging_fraction=0.6,
                       feature_fraction=0.8, num_leaves=15, min_data_in_leaf=5),
                  lgb.Dataset(X, y), num_boost_round=10)
    write("rf_binary", b, X, rng=rng)

    # A model that cannot split: one tree with one leaf (boost_from_average's mean).
    b = lgb.train(dict(common, objective="regression", min_data_in_leaf=2000), lgb.Dataset(X[:3000], y[:3000] * 1.5),
                  num_boost_round=3)
    write("constant", b, X, rng=rng)

    edges = lgb.Booster(model_str=model_text(EDGE_TREES, 4, "regression", lambda k, j: 2.0 ** -(6 * k + j)))
    rows = []
    for f in range(4):
        for v in SPECIAL:
            r = [SPECIAL[i] for i in rng.integers(len(SPECIAL), size=4)]
            r[f] = v
            rows.append(r)
    rows += [[SPECIAL[i] for i in rng.integers(len(SPECIAL), size=4)] for _ in range(200)]
    write("edges", edges, None, inputs=np.array(rows, dtype=np.float64))

    sig = lgb.Booster(model_str=model_text(SIGMOID_TREES, 1, "binary sigmoid:1.00544", lambda k, j: -15 + j * 0.9677))
    rows = [[j + d] for j in range(-1, 33) for d in (0.0, 0.5, math.nextafter(0.5, 1.0), 0.75)]
    write("sigmoid", sig, None, inputs=np.array(rows, dtype=np.float64))


if __name__ == "__main__":
    main()
