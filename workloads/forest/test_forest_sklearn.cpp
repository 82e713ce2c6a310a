// Exactness of the sklearn loader against the library's own predictions (fixtures in testdata/sklearn/).
#include <gtest/gtest.h>
