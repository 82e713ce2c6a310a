"""XGBoost models and XGBoost's own predictions for them (test_forest_xgboost.cpp reads these).

Run from this folder, once per XGBoost version (each writes files prefixed with its major version):
    /usr/bin/python3 make_fixtures.py            # Debian bookworm: xgboost 1.7.4, pandas 1.5.3
    /work/venv-xgboost2/bin/python make_fixtures.py   # pip: xgboost 2.1.4, numpy 2.4.6, pandas 3.1.1
    /work/venv-xgboost3/bin/python make_fixtures.py   # pip: xgboost 3.2.0, numpy 2.4.6, pandas 3.1.1
(the venvs: python3 -m venv DIR && DIR/bin/pip install xgboost==2.1.4 pandas numpy; likewise xgboost==3.2.0)

For each model NAME it writes vN_NAME.json (Booster.save_model) and vN_NAME.expected, a text file:
    objective <name>
    rows R features F margins M predict P
    then R lines: F input values, M margins, P predict values (all space separated)
Inputs are doubles ('%.17g'; nan), handed to XGBoost as float64 arrays (it converts them to
float32). margins: predict(output_margin=True) on a DMatrix, checked here to be bitwise equal to
inplace_predict(predict_type="margin"), all of a Booster
loaded from the file; predict: Booster.predict() (probabilities, or the class
index for multi:softmax), written with '%.9g' (they are float32).
Inputs include every kind of awkward value: each split threshold of the model, its float32 and
float64 neighbours, +0.0, -0.0, NaN, and for categorical features negative, non-integer and
too-large categories.
"""
import json
import os
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

MAJOR = int(xgb.__version__.split(".")[0])
PREFIX = f"v{MAJOR}_"
rng = np.random.default_rng(20240 + MAJOR)


def data(n, f, nan_frac=0.1):
    X = rng.normal(size=(n, f))
    X[:, 1] = np.round(X[:, 1] * 4) / 4  # repeated values: thresholds between them
    X[rng.random((n, f)) < nan_frac] = np.nan
    return X


def splits(model_json):
    """(feature, threshold) of every numeric split of the saved model."""
    out = []
    for t in model_json["learner"]["gradient_booster"]["model"]["trees"]:
        types = t.get("split_type", [0] * len(t["left_children"]))
        for i, l in enumerate(t["left_children"]):
            if l != -1 and types[i] == 0:
                out.append((t["split_indices"][i], t["split_conditions"][i]))
    return out


def probe_rows(X, model_json, cat_features=(), n_cats=0, n_random=30):
    f = X.shape[1]
    rows = [X[i].copy() for i in rng.choice(len(X), n_random, replace=False)]
    base = np.nan_to_num(X[0])
    sp = splits(model_json)
    for k in rng.permutation(len(sp))[:40]:
        feat, t = sp[k]
        t32 = np.float32(t)
        values = [t, float(np.nextafter(t32, np.float32(np.inf))), float(np.nextafter(t32, np.float32(-np.inf))),
                  float(np.nextafter(t, np.inf)), float(np.nextafter(t, -np.inf))]
        src = rows[rng.integers(len(rows))]
        for v in values:
            r = src.copy()
            r[feat] = v
            rows.append(r)
    for special in (0.0, -0.0, np.nan):
        rows.append(np.full(f, special))
        r = base.copy()
        r[rng.integers(f)] = special
        rows.append(r)
    for c in cat_features:
        for v in (-1.0, -0.5, -0.0, 0.5, 1.7, n_cats - 0.5, n_cats, n_cats + 3.0, 31.0, 32.0, 1e7,
                  16777216.0, 3e7, np.nan):
            r = rows[rng.integers(len(rows))].copy()
            r[c] = v
            rows.append(r)
    return np.array(rows, dtype=np.float64)


def write(name, bst, rows, feature_types=None, feature_names=None, save=True):
    path = PREFIX + name + ".json"
    if save:  # (not when the file was written by hand: saving again would rewrite base_score)
        bst.save_model(path)
    with open(path) as fh:
        model_json = json.load(fh)
    objective = model_json["learner"]["objective"]["name"]
    kw = {}
    if feature_types is not None:
        kw = {"feature_types": feature_types, "feature_names": feature_names, "enable_categorical": True}
    # XGBoost's outputs for the file, not for the booster in memory: what the loader must match is
    # what XGBoost makes of the file (the two agree for every model here; a note is printed if not).
    trained = bst
    bst = xgb.Booster(model_file=path)
    d = xgb.DMatrix(rows, missing=np.nan, **kw)
    same = np.asarray(trained.predict(d, output_margin=True), dtype=np.float32)
    margins = np.asarray(bst.predict(d, output_margin=True), dtype=np.float32)
    inplace = np.asarray(bst.inplace_predict(rows, predict_type="margin", missing=np.nan), dtype=np.float32)
    assert margins.tobytes() == inplace.tobytes(), name + ": DMatrix and inplace margins differ"
    if same.tobytes() != margins.tobytes():
        print(name + ": the loaded model's margins differ from the trained booster's (base_score round trip)")
    pred = np.asarray(bst.predict(d), dtype=np.float32)
    margins = margins.reshape(len(rows), -1)
    pred = pred.reshape(len(rows), -1)
    with open(PREFIX + name + ".expected", "w") as out:
        out.write(f"# {xgb.__version__} {name}: inputs (as double), margins, predict()\n")
        out.write(f"objective {objective}\n")
        out.write(f"rows {len(rows)} features {rows.shape[1]} margins {margins.shape[1]} predict {pred.shape[1]}\n")
        for r, m, p in zip(rows, margins, pred):
            out.write(" ".join("%.17g" % v for v in r) + " " + " ".join("%.9g" % v for v in m) + " "
                      + " ".join("%.9g" % v for v in p) + "\n")
    print(path, os.path.getsize(path), "bytes,", len(rows), "rows")
    return model_json


def train(params, X, y, rounds, **dkw):
    return xgb.train(dict(params, nthread=1, seed=1), xgb.DMatrix(X, label=y, **dkw), rounds)


def refit_rows(bst, X, **kw):
    bst.save_model("/tmp/_xgb_probe.json")
    with open("/tmp/_xgb_probe.json") as fh:
        return probe_rows(X, json.load(fh), **kw)


# binary:logistic, 20 trees of depth 4, NaN in the training data (so default_left matters).
X = data(600, 6)
y = ((np.nan_to_num(X[:, 0], nan=1.0) + 0.5 * np.nan_to_num(X[:, 1]) - 0.3 * np.isnan(X[:, 2])) > 0.2).astype(int)
bst = train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}, X, y, 20)
write("binary", bst, refit_rows(bst, X))

# The same model with base_score set to text that a reader which is not correctly rounded (dmlc-core's
# strtof) would take one ulp off: XGBoost reads it correctly rounded in every version. The file is
# edited, then loaded and predicted by XGBoost like the others.
with open(PREFIX + "binary.json") as fh:
    edited = json.load(fh)
edited["learner"]["learner_model_param"]["base_score"] = "[2.7439097E-1]" if MAJOR >= 3 else "2.7439097E-1"
with open(PREFIX + "edited_base.json", "w") as fh:
    json.dump(edited, fh, separators=(",", ":"))
write("edited_base", xgb.Booster(model_file=PREFIX + "edited_base.json"), refit_rows(bst, X), save=False)

# reg:squarederror.
yr = np.nan_to_num(X[:, 0]) * 3 + np.sin(np.nan_to_num(X[:, 3])) + rng.normal(scale=0.1, size=len(X))
bst = train({"objective": "reg:squarederror", "max_depth": 4, "eta": 0.2}, X, yr, 15)
write("regression", bst, refit_rows(bst, X))

# multi:softprob, 4 classes; multi:softmax, 3 classes.
yc = (np.digitize(np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 4]), [-0.7, 0, 0.7])).astype(int)
bst = train({"objective": "multi:softprob", "num_class": 4, "max_depth": 3, "eta": 0.3}, X, yc, 6)
write("softprob", bst, refit_rows(bst, X))
bst = train({"objective": "multi:softmax", "num_class": 3, "max_depth": 3, "eta": 0.3}, X, np.minimum(yc, 2), 5)
write("softmax", bst, refit_rows(bst, X))

# A non-default base_score: binary:logistic at 0.3 (a margin through ProbToMargin), count:poisson
# (log link), reg:logistic, binary:logitraw, reg:absoluteerror.
bst = train({"objective": "binary:logistic", "max_depth": 3, "base_score": 0.3}, X, y, 8)
write("base_score", bst, refit_rows(bst, X))
counts = rng.poisson(np.exp(0.5 * np.nan_to_num(X[:, 0])))
bst = train({"objective": "count:poisson", "max_depth": 3, "base_score": 2.5}, X, counts, 8)
write("poisson", bst, refit_rows(bst, X))
if MAJOR == 1:
    bst = train({"objective": "reg:logistic", "max_depth": 3}, X, y * 0.8 + 0.1, 6)
    write("reg_logistic", bst, refit_rows(bst, X))
    bst = train({"objective": "binary:logitraw", "max_depth": 3}, X, y, 6)
    write("logitraw", bst, refit_rows(bst, X))
    bst = train({"objective": "reg:absoluteerror", "max_depth": 3}, X, yr, 6)
    write("absoluteerror", bst, refit_rows(bst, X))

# Categorical features (pandas category dtype): partition splits (max_cat_to_onehot=1) and one-hot
# splits; predictions through a numeric array with feature_types, so invalid categories reach it.
n = 800
cat_a = rng.integers(0, 7, n)
cat_b = rng.integers(0, 40, n)
num = rng.normal(size=n)
num[rng.random(n) < 0.1] = np.nan
yk = np.isin(cat_a, [1, 3, 4]) * 1.0 + np.isin(cat_b % 5, [0, 2]) * 0.7 + 0.3 * np.nan_to_num(num)
frame = pd.DataFrame({"a": pd.Categorical(cat_a, categories=range(7)), "num": num,
                      "b": pd.Categorical(cat_b, categories=range(40))})
frame.loc[rng.random(n) < 0.05, "a"] = np.nan
Xk = np.column_stack([frame["a"].cat.codes.replace(-1, np.nan).to_numpy(dtype=float), num,
                      frame["b"].cat.codes.to_numpy(dtype=float)])
ftypes = ["c", "q", "c"]
for name, onehot in (("categorical", 1), ("onehot", 64)):
    bst = xgb.train({"objective": "reg:squarederror", "max_depth": 4, "tree_method": "hist",
                     "max_cat_to_onehot": onehot, "nthread": 1, "seed": 1},
                    xgb.DMatrix(frame, label=yk, enable_categorical=True), 12)
    write(name, bst, refit_rows(bst, Xk, cat_features=(0, 2), n_cats=40), feature_types=ftypes,
          feature_names=["a", "num", "b"])
