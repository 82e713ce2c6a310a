// `tandem forest predict` and `tandem forest info`: the flags of the forest workload.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>

#include "cli.hpp"
#include "tandem/errors.hpp"
#include "tandem/workloads/forest.hpp"

namespace tandem::cli {

namespace {

forest_synthetic parse_synthetic(const std::string& text) {
  forest_synthetic s;
  std::uint32_t* fields[] = {&s.trees, &s.depth, &s.features};
  const char* p = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 3; ++i) {
    const auto r = std::from_chars(p, end, *fields[i]);
    if (r.ec != std::errc() || (i < 2 && (r.ptr == end || *r.ptr != ',')) || (i == 2 && r.ptr != end))
      throw usage_error("--synthetic: expected TREES,DEPTH,FEATURES (e.g. 100,6,8), got '" + text + "'");
    p = r.ptr + 1;
  }
  check_synthetic(s);
  return s;
}

void print_answer(const run_report& rr) {
  for (const run_record& rec : rr.records) {
    if (rec.skipped) continue;
    const nlohmann::json& j = rec.result;
    std::printf("  %s rows -> %s, %s value(s) each; column means", j["rows"].dump().c_str(),
                j["output"].get<std::string>().c_str(), j["columns"].dump().c_str());
    for (const auto& m : j["column_means"]) std::printf(" %.6g", m.get<double>());
    std::printf("; checksum %s\n", j["checksum"].get<std::string>().c_str());
    return;
  }
}

// A synthetic forest of XGBoost's common shape (100 trees of depth 6, 28 features), over the rows.
std::vector<bench_case> bench() {
  return {{"", "rows", {1e3, 2e4}, {1e3, 1e4, 1e5, 1e6}, {1e3, 1e4, 1e5, 1e6, 1e7},
           [](double size, std::uint64_t seed) {
             forest_options o;
             o.synthetic = {100, 6, 28};
             o.rows = std::uint64_t(size);
             o.seed = seed;
             return make_forest_workload(o);
           }}};
}

workload_factory add_flags(CLI::App& cmd) {
  struct state {
    forest_options options;
    std::string synthetic;
    std::string kind = "proba";
  };
  auto s = std::make_shared<state>();
  cmd.add_option("-m,--model", s->options.model,
                 "Model file: XGBoost JSON, LightGBM text, or Tandem forest JSON (tools/export_sklearn.py)")
      ->type_name("FILE")
      ->check(non_empty());
  cmd.add_option("--synthetic", s->synthetic,
                 "TREES,DEPTH,FEATURES: a deterministic random forest in XGBoost's arithmetic instead of --model "
                 "(trees <= 100000, depth 1-20, features <= 100000)")
      ->check(non_empty());
  cmd.add_option("-i,--input", s->options.input,
                 "Rows to predict: CSV with a header (empty or NaN: missing) or .npy (float32/float64, rows x "
                 "features); default: --rows generated rows")
      ->type_name("FILE")
      ->check(non_empty());
  CLI::Option* rows = cmd.add_option("--rows", s->options.rows, "Generated rows when there is no --input (rows x features <= 2^31)")
      ->check(whole_number(0, forest_max_generated_values))
      ->capture_default_str();
  cmd.add_option("-p,--output", s->options.output,
                 "Write the predictions here: CSV, or .npy by extension; whole or not at all (a temporary name, "
                 "then renamed)")
      ->type_name("FILE")
      ->check(non_empty());
  cmd.add_option("-k,--output-kind", s->kind,
                 "proba: the library's predict_proba (a regressor's prediction); class: the predicted label; margin: "
                 "the raw scores")
      ->check(CLI::IsMember({"proba", "class", "margin"}))
      ->capture_default_str();
  return [s, rows](const common_flags& flags) {
    forest_options o = s->options;
    if (o.model.empty() == s->synthetic.empty())
      throw usage_error("forest predict: give --model FILE or --synthetic TREES,DEPTH,FEATURES (one of them)");
    if (!o.input.empty())
      refuse_given("forest predict", {rows}, "sets the generated rows; with --input the file's rows are predicted");
    if (!s->synthetic.empty()) o.synthetic = parse_synthetic(s->synthetic);
    o.kind = s->kind == "class" ? forest_output::label : s->kind == "margin" ? forest_output::margin : forest_output::proba;
    o.seed = flags.seed;
    return make_forest_workload(o);
  };
}

const char* link_name(forest::link l) {
  switch (l) {
    case forest::link::identity: return "identity";
    case forest::link::xgboost_sigmoid: return "XGBoost sigmoid (float)";
    case forest::link::xgboost_softmax: return "XGBoost softmax (float)";
    case forest::link::sklearn_expit: return "scikit-learn expit";
    case forest::link::sklearn_softmax: return "scikit-learn softmax";
    case forest::link::sklearn_logsumexp: return "scikit-learn softmax (exp(m - logsumexp), before 1.4)";
    case forest::link::lightgbm_sigmoid: return "LightGBM sigmoid";
    case forest::link::lightgbm_softmax: return "LightGBM softmax";
    case forest::link::exp: return "exp";
  }
  return "?";
}

void add_commands(CLI::App& forest) {
  auto* info = forest.add_subcommand("info", "Describe a model: format, objective, classes, features, trees, nodes, depth");
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  info->add_option("-m,--model", *model, "Model file")->required()->check(non_empty());
  info->add_flag("--json", *json, "Print JSON");
  info->callback([model, json] {
    const forest::forest_model m = forest::load_model(*model);
    const forest::compiled_forest c = forest::compile_forest(m);
    const bool f32 = m.input == forest::precision::f32;
    nlohmann::json j = {{"model", *model},
                        {"format", m.format},
                        {"objective", m.objective},
                        {"classes", m.classes},
                        {"features", m.features},
                        {"outputs", m.outputs},
                        {"trees", c.trees()},
                        {"nodes", c.nodes()},
                        {"max_depth", c.max_depth()},
                        {"bitvector_trees", c.bitvector_trees()},
                        {"vector_walk", c.has_walk_nodes()},
                        {"categorical_splits", m.category_sets.size()},
                        {"input_precision", f32 ? "float32" : "float64"},
                        {"sum_precision", m.sum == forest::precision::f32 ? "float32" : "float64"},
                        {"link", link_name(m.post)},
                        {"proba_columns", m.proba_columns},
                        {"feature_names", m.feature_names}};
    if (*json) {
      std::cout << j.dump(2) << "\n";
    } else {
      std::printf("model       %s\nformat      %s\nobjective   %s\n", model->c_str(), m.format.c_str(), m.objective.c_str());
      std::printf("classes     %s\nfeatures    %u\noutputs     %u\ntrees       %u\nnodes       %llu\nmax depth   %u\n",
                  m.classes.empty() ? "none (a regressor)" : j["classes"].dump().c_str(), m.features, m.outputs,
                  c.trees(), static_cast<unsigned long long>(c.nodes()), c.max_depth());
      std::printf("arithmetic  %s inputs, %s sums, link: %s\n", f32 ? "float32" : "float64",
                  m.sum == forest::precision::f32 ? "float32" : "float64", link_name(m.post));
      std::printf("bitvectors  %u of %u trees (at most 64 leaves and no special split: walked without gathers)\n",
                  c.bitvector_trees(), c.trees());
      if (c.has_walk_nodes())
        std::printf("vector walk yes (8-byte nodes, for the trees without the bitvector form)\n");
      else if (f32)
        std::printf("vector walk no (a tree too large for 8-byte nodes beside %u features: its rows walk without vectors)\n",
                    m.features);
      else
        std::printf("vector walk no (float64 inputs: the trees without the bitvector form walk without vectors)\n");
    }
    const int status = check_stdout(exit_ok);
    if (status != exit_ok) throw exit_status{status};
  });
}

}  // namespace

const workload_command& forest_command() {
  static const workload_command c{
      "forest",
      "Tree-ensemble inference (XGBoost, LightGBM, scikit-learn models) with the training library's own bits: "
      "`forest predict`, `forest info`",
      add_flags,
      bench,
      print_answer,
      "predict",
      "Predict rows with a model (or a --synthetic forest) on any backend; write them with --output",
      add_commands};
  return c;
}

}  // namespace tandem::cli
