#!/usr/bin/python3
"""Tree-ensemble libraries as peers of `tandem forest predict --synthetic TREES,DEPTH,FEATURES`:
a model of the bench's shape is trained in the set-up on synthetic data (the generator of
../shared/peers/xgboost_predict.py: FEATURES normal features, a label from the first four), then a
run predicts ROWS generated rows (float32, normal; one value in 64 missing, as Tandem's rows, except
for scikit-learn, whose 1.2 forests refuse missing values).

    forest_peer.py --library xgboost|sklearn|lightgbm --rows N [--trees 100] [--depth 6]
                   [--features 28] [--threads 1] [--train-rows 20000] [--seed 42]

xgboost:  xgb.train(binary:logistic, max_depth DEPTH, eta 0.1, hist) for TREES rounds; a run is
          booster.inplace_predict(X) with nthread THREADS (probabilities, as Tandem's default).
sklearn:  RandomForestClassifier(TREES, max_depth DEPTH, random_state 42); a run is
          predict_proba(X) with n_jobs THREADS.
lightgbm: lgb.train(binary, TREES rounds, max_depth DEPTH, 2^DEPTH - 1 leaves); a run is
          booster.predict(X, num_threads=THREADS).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_protocol as proto  # noqa: E402

PACKAGES = {"xgboost": "python3-xgboost", "sklearn": "python3-sklearn", "lightgbm": "pip install lightgbm"}


def main():
    p = proto.parser(__doc__)
    p.add_argument("--library", choices=sorted(PACKAGES), required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--trees", type=int, default=100)
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--features", type=int, default=28)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--train-rows", type=int, default=20000)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    np = proto.require("numpy", "python3-numpy")
    lib = proto.require(a.library, PACKAGES[a.library])
    nf = max(a.features, 4)
    rng = np.random.default_rng(a.seed)
    X = rng.normal(size=(a.train_rows, nf)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + 0.3 * X[:, 3] + rng.normal(scale=0.5, size=len(X)) > 0).astype(int)
    rows = rng.normal(size=(a.rows, nf)).astype(np.float32)
    if a.library != "sklearn":
        rows[rng.random(size=rows.shape) < 1 / 64] = np.nan
    trained = f"trained on {a.train_rows} synthetic rows of {nf} features"
    if a.library == "xgboost":
        bst = lib.train({"max_depth": a.depth, "eta": 0.1, "objective": "binary:logistic", "tree_method": "hist",
                         "nthread": a.threads, "seed": a.seed}, lib.DMatrix(X, y), a.trees)
        bst.set_param({"nthread": a.threads})

        def work():
            bst.inplace_predict(rows)
        what = f"xgboost {lib.__version__} inplace_predict, {a.trees} trees of depth {a.depth}"
    elif a.library == "sklearn":
        from sklearn.ensemble import RandomForestClassifier
        m = RandomForestClassifier(n_estimators=a.trees, max_depth=a.depth, random_state=42, n_jobs=a.threads).fit(X, y)

        def work():
            m.predict_proba(rows)
        what = f"scikit-learn {lib.__version__} RandomForestClassifier.predict_proba, {a.trees} trees, max_depth {a.depth}"
    else:
        bst = lib.train({"objective": "binary", "max_depth": a.depth, "num_leaves": 2 ** a.depth - 1,
                         "num_threads": a.threads, "verbose": -1, "seed": a.seed}, lib.Dataset(X, y), a.trees)

        def work():
            bst.predict(rows, num_threads=a.threads)
        what = f"lightgbm {lib.__version__} predict, {a.trees} trees, max_depth {a.depth}"
    proto.serve(f"{what}, {trained}; {a.rows} rows, {a.threads} thread{'s' if a.threads != 1 else ''}", work)


if __name__ == "__main__":
    main()
