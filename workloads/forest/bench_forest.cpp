// Forest prediction latency and throughput through the library API (forest_predictor::predict on
// the calling thread), beside XGBoost's C API on the same model where this build found it, and the
// load time of a large model. The 1M-row comparisons with the peers (scikit-learn, XGBoost,
// LightGBM, Treelite, ONNX Runtime) are bench/forest_peers.py; docs/forest.md has both.
//
//   TANDEM_FOREST_BENCH_MODEL=M.json       the model for the predict cases (default: a synthetic
//                                          forest of 100 trees, depth 6, 28 features); an XGBoost
//                                          JSON model also runs the XGBoost C API cases
//   TANDEM_FOREST_BENCH_LOAD_MODEL=L.json  the model whose load_model + compile_forest is timed
//                                          (e.g. the ~3M-node forest; skipped without it)
//   TANDEM_FOREST_SIMD=scalar|avx2         Tandem's vector level (default: the best the CPU has)
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tandem/workloads/forest.hpp"
#include "tandem/workloads/forest_model.hpp"

#if TANDEM_BENCH_WITH_XGBOOST
#include <xgboost/c_api.h>
#endif

namespace {

using namespace tandem;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

struct fixture {
  std::unique_ptr<forest_predictor> predictor;
  std::string path;  // empty: synthetic
  bool xgboost = false;
  std::uint32_t features = 0;
  std::vector<float> rows;  // 65536 rows

  static fixture& get() {
    static fixture f = [] {
      fixture x;
      x.path = env("TANDEM_FOREST_BENCH_MODEL");
      forest::forest_model m = x.path.empty() ? synthetic_forest({100, 6, 28}, 42) : forest::load_model(x.path);
      x.xgboost = !x.path.empty() && m.format.rfind("XGBoost", 0) == 0;
      x.features = m.features;
      x.predictor = std::make_unique<forest_predictor>(std::move(m));
      std::mt19937_64 g(7);
      std::normal_distribution<float> d;
      x.rows.resize(std::size_t{65536} * x.features);
      for (float& v : x.rows) v = d(g);
      return x;
    }();
    return f;
  }
};

void BM_tandem_predict(benchmark::State& state) {
  fixture& f = fixture::get();
  const auto n = static_cast<std::size_t>(state.range(0));
  const forest_predictor& p = *f.predictor;
  std::vector<double> out(n * p.columns(forest_output::proba));
  for (auto _ : state) {
    p.predict(f.rows.data(), n, forest_output::proba, out.data());
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
  state.SetLabel(f.path.empty() ? "synthetic 100x6, 28 features" : f.path);
}

#if TANDEM_BENCH_WITH_XGBOOST
// XGBoost's in-place prediction from a dense float32 array (XGBoosterPredictFromDense, what the
// Python inplace_predict calls), one thread, the probability (type 0) as Tandem's proba.
void BM_xgboost_predict(benchmark::State& state) {
  fixture& f = fixture::get();
  if (!f.xgboost) {
    state.SkipWithError("TANDEM_FOREST_BENCH_MODEL is not an XGBoost JSON model");
    return;
  }
  BoosterHandle h = nullptr;
  if (XGBoosterCreate(nullptr, 0, &h) != 0 || XGBoosterLoadModel(h, f.path.c_str()) != 0 ||
      XGBoosterSetParam(h, "nthread", "1") != 0) {
    state.SkipWithError(XGBGetLastError());
    return;
  }
  const auto n = static_cast<std::size_t>(state.range(0));
  const std::string values = "{\"data\": [" + std::to_string(reinterpret_cast<std::uintptr_t>(f.rows.data())) +
                             ", true], \"shape\": [" + std::to_string(n) + ", " + std::to_string(f.features) +
                             "], \"typestr\": \"<f4\", \"version\": 3}";
  const char* config =
      "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, \"strict_shape\": false, "
      "\"missing\": NaN, \"cache_id\": 0}";
  const bst_ulong* shape = nullptr;
  bst_ulong dim = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDense(h, values.c_str(), config, nullptr, &shape, &dim, &result) != 0) {
    state.SkipWithError(XGBGetLastError());
    XGBoosterFree(h);
    return;
  }
  // The same first output as Tandem's, as a check that both predict the same model.
  std::vector<double> mine(n * f.predictor->columns(forest_output::proba));
  f.predictor->predict(f.rows.data(), n, forest_output::proba, mine.data());
  if (static_cast<float>(mine[0]) != result[0]) {
    state.SkipWithError("XGBoost and Tandem disagree on row 0");
    XGBoosterFree(h);
    return;
  }
  for (auto _ : state) {
    XGBoosterPredictFromDense(h, values.c_str(), config, nullptr, &shape, &dim, &result);
    benchmark::DoNotOptimize(result);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(n));
  XGBoosterFree(h);
}
BENCHMARK(BM_xgboost_predict)->Arg(1)->Arg(1024)->Arg(65536)->UseRealTime();

// XGBoosterLoadModel of the same file as BM_load_model, for comparison.
void BM_xgboost_load_model(benchmark::State& state) {
  const std::string path = env("TANDEM_FOREST_BENCH_LOAD_MODEL");
  if (path.empty()) {
    state.SkipWithError("set TANDEM_FOREST_BENCH_LOAD_MODEL to an XGBoost JSON model");
    return;
  }
  for (auto _ : state) {
    BoosterHandle h = nullptr;
    if (XGBoosterCreate(nullptr, 0, &h) != 0 || XGBoosterLoadModel(h, path.c_str()) != 0) {
      state.SkipWithError(XGBGetLastError());
      if (h) XGBoosterFree(h);
      return;
    }
    XGBoosterFree(h);
  }
  state.SetLabel(path);
}
BENCHMARK(BM_xgboost_load_model)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
#endif

// load_model + compile_forest (what forest_predictor's constructor and `tandem forest predict` do
// before the first row).
void BM_load_model(benchmark::State& state) {
  const std::string path = env("TANDEM_FOREST_BENCH_LOAD_MODEL");
  if (path.empty()) {
    state.SkipWithError("set TANDEM_FOREST_BENCH_LOAD_MODEL to a model file");
    return;
  }
  std::uint64_t nodes = 0;
  for (auto _ : state) {
    forest::forest_model m = forest::load_model(path);
    forest::compiled_forest c = forest::compile_forest(m);
    nodes = c.nodes();
    benchmark::DoNotOptimize(nodes);
  }
  state.counters["nodes"] = static_cast<double>(nodes);
  state.SetLabel(path);
}

BENCHMARK(BM_tandem_predict)->Arg(1)->Arg(1024)->Arg(65536)->UseRealTime();
BENCHMARK(BM_load_model)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
