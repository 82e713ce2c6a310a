#!/usr/bin/env python3
"""One timed prediction by one peer library, for bench/forest_peers.py (which runs it).

    forest_peer_worker.py ENGINE MODEL ROWS.npy THREADS

ENGINE is one of sklearn, xgboost, lightgbm, treelite, onnx. Loads the model and the rows (not
timed), predicts the first 1000 rows once (warm-up, not timed), then times one prediction of every
row and prints one JSON line: {"engine", "version", "threads", "rows", "seconds", "checksum"}.
The checksum is the sum of the outputs, to see that each peer predicted the same model.

Run it with the interpreter that has the library: /usr/bin/python3 (Debian's scikit-learn and
XGBoost) or the venv (LightGBM, Treelite, ONNX Runtime).
"""
import json
import os
import sys
import time

import numpy as np


def load(engine, model, threads):
    """Returns (predict(X) -> array, version)."""
    if engine == "sklearn":
        import joblib
        import sklearn
        m = joblib.load(model)
        m.set_params(n_jobs=threads)
        return m.predict_proba, sklearn.__version__
    if engine == "xgboost":
        import xgboost as xgb
        b = xgb.Booster(model_file=model)
        b.set_param({"nthread": threads})
        return b.inplace_predict, xgb.__version__
    if engine == "lightgbm":
        import lightgbm as lgb
        b = lgb.Booster(model_file=model)
        return (lambda X: b.predict(X, num_threads=threads)), lgb.__version__
    if engine == "treelite":
        import treelite
        import treelite.gtil
        if model.endswith(".joblib"):
            import joblib
            import treelite.sklearn
            tm = treelite.sklearn.import_model(joblib.load(model))
        elif model.endswith(".txt"):
            tm = treelite.frontend.load_lightgbm_model(model)
        else:
            tm = treelite.frontend.load_xgboost_model(model, format_choice="json")
        return (lambda X: treelite.gtil.predict(tm, X, nthread=threads)), "treelite " + treelite.__version__ + " GTIL"
    if engine == "onnx":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        outs = [o.name for o in s.get_outputs()]
        # The probabilities: the last output (classifiers: label, probabilities), or the only one.
        want = [outs[-1]]
        return (lambda X: s.run(want, {name: X})[0]), "onnxruntime " + ort.__version__
    raise SystemExit(f"unknown engine {engine}")


def main(argv):
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    engine, model, rows, threads = argv[1], argv[2], argv[3], int(argv[4])
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    predict, version = load(engine, model, threads)
    X = np.ascontiguousarray(np.load(rows), dtype=np.float32)
    predict(X[:1000])
    t = time.perf_counter()
    out = predict(X)
    seconds = time.perf_counter() - t
    out = np.asarray(out, dtype=np.float64)
    # Binary probability: the last column where there are several.
    p1 = out[:, -1] if out.ndim == 2 else out
    print(json.dumps({"engine": engine, "version": version, "threads": threads, "rows": int(len(X)),
                      "seconds": seconds, "checksum": float(p1.sum())}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
