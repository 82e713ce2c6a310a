// What the loaders share inside the forest workload: each library's link from margins to
// probabilities lives beside that library's loader, in the library's own arithmetic.
#pragma once

#include <string>

#include "tandem/workloads/forest_model.hpp"

namespace tandem::forest {

// proba receives m.proba_columns values from one row's m.outputs margins.
void xgboost_proba(const forest_model& m, const double* margins, double* proba);   // forest_xgboost.cpp
void lightgbm_proba(const forest_model& m, const double* margins, double* proba);  // forest_lightgbm.cpp
void sklearn_proba(const forest_model& m, const double* margins, double* proba);   // forest_sklearn.cpp

// One line naming the file and what is wrong; the loaders throw it.
[[noreturn]] void malformed(const std::string& path, const std::string& what);

}  // namespace tandem::forest
