// Tandem forest JSON, written by tools/export_sklearn.py from a fitted scikit-learn estimator.
#include "forest_loaders.hpp"

namespace tandem::forest {

forest_model load_tandem_json(const std::string&, const std::string& path) {
  malformed(path, "Tandem forest JSON is not read yet");
}

void sklearn_proba(const forest_model& m, const double* margins, double* proba) {
  for (std::uint32_t i = 0; i < m.proba_columns; ++i) proba[i] = margins[i];
}

}  // namespace tandem::forest
