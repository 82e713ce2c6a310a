// XGBoost JSON models (save_model("m.json")): gbtree boosters.
#include "forest_loaders.hpp"

namespace tandem::forest {

forest_model load_xgboost_json(const std::string&, const std::string& path) {
  malformed(path, "XGBoost JSON models are not read yet");
}

void xgboost_proba(const forest_model& m, const double* margins, double* proba) {
  for (std::uint32_t i = 0; i < m.proba_columns; ++i) proba[i] = margins[i];
}

}  // namespace tandem::forest
