#!/usr/bin/env python3
"""The published Titanic example, trained and exported for Tandem.

    examples/titanic/train_and_export.py DATA_DIR OUT_DIR [--no-pool]

DATA_DIR holds Kaggle's Titanic train.csv and test.csv. Trains exactly the published pipeline
(the preprocessing below, StandardScaler, RandomForestClassifier(random_state=42, n_jobs=-1)) on
train.csv and writes to OUT_DIR:

    titanic_forest.json   the forest, by tools/export_sklearn.py (Tandem forest JSON)
    test_features.csv     test.csv preprocessed and scaled: the float64 features the forest sees
                          (a header of feature names; round-trip digits)
    sklearn_proba.csv     scikit-learn's predict_proba on them (one column per class, round-trip)
    sklearn_predict.csv   scikit-learn's predict: PassengerId,Survived (Kaggle's submission form)
    timings.json          predict on the 418 rows in one call, and the published split into
                          100-row batches over ProcessPoolExecutor(8) (skipped with --no-pool)

predict_proba is taken with n_jobs=1: with several threads scikit-learn adds the trees' fractions
in the order the threads finish, so its own last bit can change from run to run; in tree order it
is fixed, and that is the order Tandem adds them in. Fitting is the same either way (each tree's
random state is drawn before the trees are built).
"""
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import sklearn
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import export_sklearn  # noqa: E402


def preprocess(df):
    """The published preprocessing, unchanged."""
    df = df.copy()
    df["Age"] = df["Age"].fillna(df["Age"].median())
    df["Embarked"] = df["Embarked"].fillna(df["Embarked"].mode()[0])
    df["Fare"] = df["Fare"].fillna(df["Fare"].median())
    df["Sex"] = df["Sex"].map({"male": 0, "female": 1})
    df["Embarked"] = df["Embarked"].map({"C": 0, "Q": 1, "S": 2})
    return df.drop(columns=["Name", "Ticket", "Cabin"], errors="ignore")


_model = None  # the forest, for the pool's workers (inherited when they fork)


def predict_batch(batch):
    return _model.predict(batch).tolist()


def write_rows(path, header, rows):
    with open(path, "w") as out:
        out.write(",".join(header) + "\n")
        for r in rows:
            out.write(",".join(repr(float(v)) for v in r) + "\n")


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 2 or any(a not in ("--no-pool",) for a in argv[1:] if a.startswith("--")):
        print("usage: train_and_export.py DATA_DIR OUT_DIR [--no-pool]", file=sys.stderr)
        return 2
    data, out = args
    use_pool = "--no-pool" not in argv
    os.makedirs(out, exist_ok=True)

    tr = preprocess(pd.read_csv(os.path.join(data, "train.csv")))
    te = preprocess(pd.read_csv(os.path.join(data, "test.csv")))
    feats = [c for c in tr.columns if c not in ["PassengerId", "Survived"]]
    sc = StandardScaler().fit(tr[feats])
    Xtr = sc.transform(tr[feats])
    Xte = sc.transform(te[feats])
    global _model
    _model = m = RandomForestClassifier(random_state=42, n_jobs=-1).fit(Xtr, tr["Survived"])

    doc = export_sklearn.export(m)
    doc["feature_names"] = list(feats)  # the scaler saw the names; the forest saw an array
    export_sklearn.write_json(doc, os.path.join(out, "titanic_forest.json"))
    write_rows(os.path.join(out, "test_features.csv"), feats, Xte)

    m.set_params(n_jobs=1)
    proba = m.predict_proba(Xte)
    write_rows(os.path.join(out, "sklearn_proba.csv"), [f"proba_{c}" for c in m.classes_], proba)
    t = time.perf_counter()
    pred = m.predict(Xte)
    t_one = time.perf_counter() - t
    with open(os.path.join(out, "sklearn_predict.csv"), "w") as f:
        f.write("PassengerId,Survived\n")
        for pid, y in zip(te["PassengerId"], pred):
            f.write(f"{int(pid)},{int(y)}\n")

    timings = {"scikit_learn": sklearn.__version__, "rows": int(len(Xte)), "trees": len(m.estimators_),
               "nodes": int(sum(e.tree_.node_count for e in m.estimators_)),
               "predict_one_call_n_jobs_1_s": t_one}
    m.set_params(n_jobs=-1)
    t = time.perf_counter()
    m.predict(Xte)
    timings["predict_one_call_n_jobs_all_s"] = time.perf_counter() - t
    if use_pool:
        # The published split: 100-row batches over ProcessPoolExecutor(8), the forest with
        # n_jobs=-1 as published.
        batches = [Xte[i:i + 100] for i in range(0, len(Xte), 100)]
        t = time.perf_counter()
        with ProcessPoolExecutor(max_workers=8) as ex:
            p_pool = [y for r in ex.map(predict_batch, batches) for y in r]
        timings["predict_pool8_100_row_batches_s"] = time.perf_counter() - t
        assert list(pred) == p_pool, "the pool's predictions differ from one call's"
    with open(os.path.join(out, "timings.json"), "w") as f:
        json.dump(timings, f, indent=1)
        f.write("\n")
    print(f"{out}: {timings['trees']} trees, {timings['nodes']} nodes, {len(Xte)} test rows, "
          f"{int(pred.sum())} predicted survivors (scikit-learn {sklearn.__version__})")
    print("timings (s): " + ", ".join(f"{k[:-2]} {v:.4f}" for k, v in timings.items() if k.endswith("_s")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
