// Exactness of the lightgbm loader against the library's own predictions (fixtures in testdata/lightgbm/).
#include <gtest/gtest.h>
