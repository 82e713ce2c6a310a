// LightGBM text models (save_model("m.txt")).
#include "forest_loaders.hpp"

namespace tandem::forest {

forest_model load_lightgbm_text(const std::string&, const std::string& path) {
  malformed(path, "LightGBM models are not read yet");
}

void lightgbm_proba(const forest_model& m, const double* margins, double* proba) {
  for (std::uint32_t i = 0; i < m.proba_columns; ++i) proba[i] = margins[i];
}

}  // namespace tandem::forest
