// Exactness of the xgboost loader against the library's own predictions (fixtures in testdata/xgboost/).
#include <gtest/gtest.h>
