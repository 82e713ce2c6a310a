#!/usr/bin/python3
"""Tandem's forest predictor against the libraries people would otherwise use, in one run.

    /usr/bin/python3 bench/forest_peers.py [--tandem build/cli/tandem] [--rounds 3] [--rows 1000000]
        [--threads 1,2] [--cases titanic,rf500,xgb100x6,xgb500x8,lgbm100x6] [--cache DIR]
        [--venv /work/venv-bench/bin/python] [--titanic DIR] [--simd scalar|avx2] [--json OUT.json]

Trains the models once into the cache folder (default ~/.cache/tandem-forest-bench; delete it to
retrain) and writes the rows to predict as .npy (float32):

    titanic    the published Titanic RandomForestClassifier (100 trees, scikit-learn on
               /usr/bin/python3), exported by tools/export_sklearn.py; rows: test.csv preprocessed
               and scaled, repeated to --rows
    rf500      RandomForestClassifier(500 trees, max_depth=12) on 20,000 synthetic rows of 28
               features; rows: --rows synthetic rows (the XGBoost peer's generator)
    xgb100x6   XGBoost 100 trees of depth 6, binary:logistic, hist (shared/peers/xgboost_predict.py)
    xgb500x8   XGBoost 500 trees of depth 8, the same
    lgbm100x6  LightGBM 100 trees, max_depth 6, 63 leaves, binary (the venv), on the same data

Then, per round, per case and thread count, runs every engine once, in turn (interleaved): Tandem's
CLI (`forest predict --input X.npy --json`; seq at 1 thread, threads and procs with --workers 2 at
2) and each peer that has the model (bench/forest_peer_worker.py: one process per measurement,
model and rows loaded before the clock starts, one warm-up on 1000 rows, then one timed predict of
every row). Tandem's time is the run's compute time from its JSON report (the rows are already in
memory, as they are for the peers).

Prints the machine (CPU, Tandem's forest SIMD level, load average before and after), the versions,
and a markdown table: median and min seconds per engine, rows/s, and the ratio peer / Tandem of the
medians (the same thread count; Tandem's threads backend at 2). Writes every measurement as JSON
with --json.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKER = os.path.join(HERE, "forest_peer_worker.py")
SYS_PY = "/usr/bin/python3"
ALL_CASES = ["titanic", "rf500", "xgb100x6", "xgb500x8", "lgbm100x6"]
NF = 28  # features of the synthetic data (shared/peers/xgboost_predict.py)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Models and rows, made once.

def synthetic(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, NF)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + 0.3 * X[:, 3] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    return X, y


def setup(cache, rows, titanic_dir, venv, cases, notes, rf500_rows):
    os.makedirs(cache, exist_ok=True)
    p = lambda name: os.path.join(cache, name)
    tag = f"{rows}"
    xs = p(f"synthetic_{tag}.npy")
    if not os.path.exists(xs):
        log(f"writing {xs}")
        Xb = np.random.default_rng(1).normal(size=(rows, NF)).astype(np.float32)
        np.save(xs, Xb)
    xs2 = p(f"synthetic_{rf500_rows}.npy")
    if "rf500" in cases and not os.path.exists(xs2):
        Xb = np.random.default_rng(1).normal(size=(max(rows, rf500_rows), NF)).astype(np.float32)
        np.save(xs2, Xb[:rf500_rows])
    train_npz = p("train_synthetic.npz")
    if not os.path.exists(train_npz):
        X, y = synthetic(200_000, 0)
        np.savez(train_npz, X=X, y=y)
    tr = np.load(train_npz)
    Xtr, ytr = tr["X"], tr["y"]

    import joblib
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import export_sklearn

    if "titanic" in cases and not os.path.exists(p("titanic.json")):
        log("training the Titanic forest")
        sys.path.insert(0, os.path.join(ROOT, "examples", "titanic"))
        import pandas as pd
        from sklearn.ensemble import RandomForestClassifier
        from sklearn.preprocessing import StandardScaler
        from train_and_export import preprocess
        dtr = preprocess(pd.read_csv(os.path.join(titanic_dir, "train.csv")))
        dte = preprocess(pd.read_csv(os.path.join(titanic_dir, "test.csv")))
        feats = [c for c in dtr.columns if c not in ["PassengerId", "Survived"]]
        sc = StandardScaler().fit(dtr[feats])
        Xt = sc.transform(dtr[feats])
        np.savez(p("titanic_train.npz"), X=Xt, y=dtr["Survived"].to_numpy())
        m = RandomForestClassifier(random_state=42, n_jobs=-1).fit(Xt, dtr["Survived"])
        Xte = sc.transform(dte[feats]).astype(np.float32)
        np.save(p(f"titanic_{tag}.npy"), np.resize(Xte, (rows, Xte.shape[1])))
        joblib.dump(m, p("titanic.joblib"))
        export_sklearn.write_json(export_sklearn.export(m), p("titanic.json"))
    if "rf500" in cases and not os.path.exists(p("rf500.json")):
        log("training the 500-tree depth-12 random forest")
        from sklearn.ensemble import RandomForestClassifier
        m = RandomForestClassifier(n_estimators=500, max_depth=12, random_state=0, n_jobs=2).fit(Xtr[:20_000], ytr[:20_000])
        joblib.dump(m, p("rf500.joblib"))
        export_sklearn.write_json(export_sklearn.export(m), p("rf500.json"))
    for trees, depth in [(100, 6), (500, 8)]:
        name = f"xgb{trees}x{depth}"
        if name in cases and not os.path.exists(p(name + ".json")):
            log(f"training {name}")
            import xgboost as xgb
            bst = xgb.train({"max_depth": depth, "eta": 0.1, "objective": "binary:logistic", "tree_method": "hist",
                             "nthread": 2}, xgb.DMatrix(Xtr, ytr), trees)
            bst.save_model(p(name + ".json"))
    if not os.path.exists(p("xgb_big.json")) and os.path.exists(p("xgb500x8.json")):
        make_big(p("xgb500x8.json"), p("xgb_big.json"), 3_000_000)
    # The venv's part: LightGBM, and the ONNX forms of the models (skipped, with a note, where a
    # package or a conversion is missing).
    if venv and os.path.exists(venv):
        script = VENV_SETUP
        r = subprocess.run([venv, "-c", script, cache, ",".join(cases)], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            if line.startswith("NOTE "):
                notes.append(line[5:])
        if r.returncode != 0:
            notes.append("venv setup failed: " + r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "venv setup failed")
    else:
        notes.append(f"no venv at {venv}: LightGBM, Treelite and ONNX Runtime skipped")


def make_big(src, dst, min_nodes):
    """An XGBoost JSON model of at least min_nodes nodes: src's trees repeated (for the load time
    in bench_forest; both XGBoost and Tandem load it)."""
    with open(src) as f:
        doc = json.load(f)
    model = doc["learner"]["gradient_booster"]["model"]
    trees = model["trees"]
    per = sum(int(t["tree_param"]["num_nodes"]) for t in trees)
    copies = -(-min_nodes // per)
    out = []
    for c in range(copies):
        for t in trees:
            t2 = dict(t)
            t2["id"] = len(out)
            out.append(t2)
    model["trees"] = out
    model["tree_info"] = [0] * len(out)
    model["gbtree_model_param"]["num_trees"] = str(len(out))
    with open(dst, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    log(f"wrote {dst}: {len(out)} trees, {per * copies} nodes")


# Run by the venv's interpreter: trains LightGBM, converts models to ONNX. Prints NOTE lines.
VENV_SETUP = r'''
import os, sys
import numpy as np
cache, cases = sys.argv[1], sys.argv[2].split(",")
p = lambda n: os.path.join(cache, n)
tr = np.load(p("train_synthetic.npz")); X, y = tr["X"], tr["y"]
if "lgbm100x6" in cases and not os.path.exists(p("lgbm100x6.txt")):
    try:
        import lightgbm as lgb
        b = lgb.train({"objective": "binary", "max_depth": 6, "num_leaves": 63, "learning_rate": 0.1,
                       "num_threads": 2, "verbose": -1}, lgb.Dataset(X, y), 100)
        b.save_model(p("lgbm100x6.txt"))
    except Exception as e:
        print("NOTE LightGBM: " + repr(e)[:200])
def onnx_save(model, path):
    with open(path, "wb") as f: f.write(model.SerializeToString())
# /usr/bin/python3's scikit-learn pickles do not load in the venv's (a newer node layout), so the
# venv refits the same estimator on the same data with the same random_state (*_venv.joblib), for
# Treelite and skl2onnx; the checksums in the results show whether the trees came out the same.
for name in ("titanic", "rf500"):
    if name in cases and not os.path.exists(p(name + "_venv.joblib")):
        try:
            import joblib
            from sklearn.ensemble import RandomForestClassifier
            if name == "titanic":
                t = np.load(p("titanic_train.npz"))
                m = RandomForestClassifier(random_state=42, n_jobs=-1).fit(t["X"], t["y"])
            else:
                m = RandomForestClassifier(n_estimators=500, max_depth=12, random_state=0, n_jobs=2).fit(X[:20000], y[:20000])
            joblib.dump(m, p(name + "_venv.joblib"))
        except Exception as e:
            print(f"NOTE refit of {name} in the venv: " + repr(e)[:200])
    if name in cases and not os.path.exists(p(name + ".onnx")) and os.path.exists(p(name + "_venv.joblib")):
        try:
            import joblib
            from skl2onnx import convert_sklearn
            from skl2onnx.common.data_types import FloatTensorType
            m = joblib.load(p(name + "_venv.joblib"))
            onx = convert_sklearn(m, initial_types=[("X", FloatTensorType([None, m.n_features_in_]))],
                                  options={id(m): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
            onnx_save(onx, p(name + ".onnx"))
        except Exception as e:
            print(f"NOTE ONNX of {name}: " + repr(e)[:200])
if "lgbm100x6" in cases and not os.path.exists(p("lgbm100x6.onnx")) and os.path.exists(p("lgbm100x6.txt")):
    try:
        import lightgbm as lgb, onnxmltools
        from onnxmltools.convert.common.data_types import FloatTensorType
        b = lgb.Booster(model_file=p("lgbm100x6.txt"))
        onx = onnxmltools.convert_lightgbm(b, initial_types=[("X", FloatTensorType([None, X.shape[1]]))],
                                           zipmap=False, target_opset=15)
        onnx_save(onx, p("lgbm100x6.onnx"))
    except Exception as e:
        print("NOTE ONNX of lgbm100x6: " + repr(e)[:200])
try:
    import xgboost  # noqa: F401
except ImportError:
    print("NOTE ONNX of the XGBoost models: skipped (onnxmltools.convert_xgboost needs the xgboost package, not in the venv)")
'''


# ------------------------------------------------------------------------------------------------
# Measurements.

SIMD_NAMES = {"scalar": "scalar", "avx2": "AVX2"}


def run_tandem(tandem, model, rows, backend, workers, simd):
    cmd = [tandem, "forest", "predict", "--model", model, "--input", rows, "--backend", backend,
           "--workers", str(workers), "--repeat", "1", "--json"]
    env = dict(os.environ)
    if simd:
        env["TANDEM_FOREST_SIMD"] = simd
        cmd_text = f"TANDEM_FOREST_SIMD={simd} " + " ".join(cmd)
    else:
        cmd_text = " ".join(cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(" ".join(cmd) + ": " + r.stderr.strip()[-400:])
    return tandem_seconds(json.loads(r.stdout)), cmd_text


def tandem_seconds(j):
    """The timed run's seconds in the report (results[0].time_s: the rows are read, and the model
    loaded, before the clock starts; one untimed warm-up run precedes it)."""
    return j["results"][0]["time_s"]["median"]


def run_peer(py, engine, model, rows, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([py, WORKER, engine, model, rows, str(threads)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{engine} {model}: " + (r.stderr.strip().splitlines() or ["?"])[-1])
    return json.loads(r.stdout.strip().splitlines()[-1])


def engines_for(case, cache, rows_tag, venv):
    """[(label, kind, args)] for a case: kind 'tandem' or a peer engine with its interpreter."""
    p = lambda n: os.path.join(cache, n)
    rows = p(f"titanic_{rows_tag}.npy") if case == "titanic" else p(f"synthetic_{rows_tag}.npy")
    have_venv = venv and os.path.exists(venv)
    if case in ("titanic", "rf500"):
        model = p(case + ".json")
        peers = [("scikit-learn", SYS_PY, "sklearn", p(case + ".joblib"))]
        if have_venv:
            peers.append(("Treelite GTIL", venv, "treelite", p(case + "_venv.joblib")))
            if os.path.exists(p(case + ".onnx")):
                peers.append(("ONNX Runtime", venv, "onnx", p(case + ".onnx")))
    elif case.startswith("xgb"):
        model = p(case + ".json")
        peers = [("XGBoost", SYS_PY, "xgboost", model)]
        if have_venv:
            peers.append(("Treelite GTIL", venv, "treelite", model))
    else:
        model = p(case + ".txt")
        peers = []
        if have_venv:
            peers.append(("LightGBM", venv, "lightgbm", model))
            peers.append(("Treelite GTIL", venv, "treelite", model))
            if os.path.exists(p(case + ".onnx")):
                peers.append(("ONNX Runtime", venv, "onnx", p(case + ".onnx")))
    return model, rows, [x for x in peers if os.path.exists(x[3])]


def machine(tandem, simd):
    cpu = "?"
    flags = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and cpu == "?":
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line
    best = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "scalar"
    level = best if not simd else ("scalar" if simd == "scalar" else "AVX2" if best != "scalar" else "scalar")
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "tandem_forest_simd": level,
            "TANDEM_FOREST_SIMD": simd or "", "loadavg_start": os.getloadavg()}


def model_info(tandem, model):
    r = subprocess.run([tandem, "forest", "info", "--model", model, "--json"], capture_output=True, text=True)
    if r.returncode != 0:
        return {}
    j = json.loads(r.stdout)
    return {k: j.get(k) for k in ("trees", "nodes", "max_depth", "features", "input_precision", "sum_precision", "format",
                                  "bitvector_trees")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tandem", default=os.path.join(ROOT, "build", "cli", "tandem"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rf500-rows", type=int, default=200_000,
                    help="rows for the rf500 case, every engine (scikit-learn takes minutes on 1M)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cases", default=",".join(ALL_CASES))
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/tandem-forest-bench"))
    ap.add_argument("--venv", default="/work/venv-bench/bin/python")
    ap.add_argument("--titanic", default=os.path.join(ROOT, "..", "shared", "data", "titanic"))
    ap.add_argument("--simd", choices=["scalar", "avx2"], default=None,
                    help="TANDEM_FOREST_SIMD for Tandem's runs (default: the best the CPU has)")
    ap.add_argument("--treelite-threads", default="2",
                    help="thread counts at which Treelite's GTIL (a slow reference interpreter) runs")
    ap.add_argument("--treelite-cases", default="xgb100x6,lgbm100x6",
                    help="cases Treelite runs on (its GTIL takes minutes on the big forests)")
    ap.add_argument("--simd-variants", default="",
                    help="also run Tandem seq at 1 thread with these TANDEM_FOREST_SIMD levels (e.g. scalar,avx2)")
    ap.add_argument("--no-procs", action="store_true", help="skip Tandem's procs backend")
    ap.add_argument("--json", default=None)
    ap.add_argument("--setup-only", action="store_true", help="train and write the inputs, then stop")
    a = ap.parse_args()
    cases = [c for c in a.cases.split(",") if c]
    threads = [int(t) for t in a.threads.split(",")]
    notes = []
    setup(a.cache, a.rows, a.titanic, a.venv, cases, notes, a.rf500_rows)
    case_rows = {c: (a.rf500_rows if c == "rf500" else a.rows) for c in cases}
    if a.setup_only:
        print("\n".join(notes))
        return 0
    mach = machine(a.tandem, a.simd)

    plan = []  # (case, threads, label, fn)
    info = {}
    for case in cases:
        model, rows, peers = engines_for(case, a.cache, case_rows[case], a.venv)
        if not os.path.exists(model):
            notes.append(f"{case}: no model ({model}); skipped")
            continue
        info[case] = model_info(a.tandem, model)
        for t in threads:
            backends = [("seq", 1)] if t == 1 else [("threads", t)] + ([] if a.no_procs else [("procs", t)])
            for b, w in backends:
                plan.append((case, t, f"Tandem {b}", ("tandem", model, rows, b, w, a.simd)))
            if t == 1:
                for lv in [x for x in a.simd_variants.split(",") if x]:
                    plan.append((case, t, f"Tandem seq ({SIMD_NAMES[lv]})", ("tandem", model, rows, "seq", 1, lv)))
            for label, py, engine, pm in peers:
                if engine == "treelite" and (str(t) not in a.treelite_threads.split(",")
                                             or case not in a.treelite_cases.split(",")):
                    continue
                plan.append((case, t, label, ("peer", py, engine, pm, rows, t)))

    results = {}   # (case, threads, label) -> [seconds]
    versions = {}
    commands = {}
    checks = {}
    for rnd in range(a.rounds):
        log(f"round {rnd + 1}/{a.rounds} (load average {os.getloadavg()[0]:.2f})")
        for case, t, label, job in plan:
            key = (case, t, label)
            try:
                if job[0] == "tandem":
                    s, cmd = run_tandem(a.tandem, job[1], job[2], job[3], job[4], job[5])
                    commands[key] = cmd
                else:
                    r = run_peer(*job[1:])
                    s = r["seconds"]
                    versions[label] = r["version"]
                    checks[key] = r["checksum"]
            except Exception as e:  # one failing engine does not stop the run
                if key not in results:
                    notes.append(f"{case} {label} {t}t: {e}"[:300])
                results.setdefault(key, [])
                continue
            results.setdefault(key, []).append(s)
            log(f"  {case:9} {t}t {label:16} {s:8.3f} s")
    mach["loadavg_end"] = os.getloadavg()

    # The report.
    out = []
    out.append(f"Machine: {mach['cpu']}, {mach['cores']} cores, Linux {mach['kernel']}; Tandem forest SIMD level: "
               f"{mach['tandem_forest_simd']}; load average at start {mach['loadavg_start'][0]:.2f}, "
               f"at end {mach['loadavg_end'][0]:.2f}; {a.rounds} rounds; rows per case in the table.")
    out.append("Versions: " + ", ".join(f"{k}: {v}" for k, v in sorted(versions.items())) +
               ", NumPy " + np.__version__ + ", Python " + platform.python_version() + " (/usr/bin/python3)")
    out.append("")
    out.append("| case | model | rows | threads | engine | median s | min s | Mrows/s (median) | peer / Tandem (median) | SIMD |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    rows_json = []
    for case in cases:
        if case not in info:
            continue
        mi = info[case]
        mdesc = f"{mi.get('trees', '?')} trees, {mi.get('nodes', '?')} nodes, depth {mi.get('max_depth', '?')}"
        for t in threads:
            labels = [lab for (c, tt, lab) in results if c == case and tt == t]
            tkey = (case, t, "Tandem seq" if t == 1 else "Tandem threads")
            tmed = statistics.median(results[tkey]) if results.get(tkey) else None
            for lab in labels:
                v = results[(case, t, lab)]
                if not v:
                    out.append(f"| {case} | {mdesc} | {case_rows[case]} | {t} | {lab} | failed | | | | |")
                    continue
                med, mn = statistics.median(v), min(v)
                ratio = f"{med / tmed:.2f}x" if tmed and not lab.startswith("Tandem") else ""
                simd = mach["tandem_forest_simd"] if lab.startswith("Tandem") else ""
                if lab.startswith("Tandem seq ("):
                    simd = lab[len("Tandem seq ("):-1]
                if lab.startswith("Tandem") and simd != "scalar" and (mi.get("bitvector_trees") or
                                                                      mi.get("input_precision") == "float64"):
                    # The trees the bitvector form evaluates (a double model has no other vector path).
                    simd += f" ({mi.get('bitvector_trees') or 0} of {mi.get('trees')} trees: bitvector form)"
                out.append(f"| {case} | {mdesc} | {case_rows[case]} | {t} | {lab} | {med:.3f} | {mn:.3f} | {case_rows[case] / med / 1e6:.2f} | {ratio} | {simd} |")
                rows_json.append({"case": case, "model": mi, "rows": case_rows[case], "threads": t, "engine": lab, "seconds": v,
                                  "median": med, "min": mn, "ratio_to_tandem": (med / tmed) if tmed else None,
                                  "checksum": checks.get((case, t, lab))})
    out.append("")
    out.append("Tandem commands (the last round's): ")
    for k in sorted(commands):
        out.append(f"    {commands[k]}")
    if notes:
        out.append("")
        out.append("Notes: ")
        for n in dict.fromkeys(notes):
            out.append(f"- {n}")
    print("\n".join(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": mach, "versions": versions, "rounds": a.rounds, "rows": a.rows,
                       "results": rows_json, "notes": notes, "models": info}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
