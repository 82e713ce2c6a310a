// The example workload: the same bits on every backend, and close to the asymptotic expansion.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>

#include "backend_context.hpp"
#include "tandem/workloads/harmonic.hpp"

namespace {

using namespace tandem;

double reference(std::uint64_t n) {  // ln n + gamma + 1/2n - 1/12n^2
  const double x = static_cast<double>(n);
  return std::log(x) + 0.57721566490153286 + 1 / (2 * x) - 1 / (12 * x * x);
}

class harmonic_backends : public ::testing::TestWithParam<const char*> {};

TEST_P(harmonic_backends, same_bits_as_seq) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  tandem::testing::backend_context seq(backend::seq, 1), ctx(b, 3);
  for (std::uint64_t n : {0u, 1u, 65535u, 65536u, 65537u, 10'000'019u}) {
    const harmonic_result want = run_harmonic(*seq, {n}), got = run_harmonic(*ctx, {n});
    EXPECT_EQ(std::bit_cast<std::uint64_t>(got.sum), std::bit_cast<std::uint64_t>(want.sum)) << "n=" << n;
    if (n > 1000) EXPECT_NEAR(got.sum, reference(n), 1e-9);
  }
}

INSTANTIATE_TEST_SUITE_P(every, harmonic_backends, ::testing::ValuesIn(tandem::testing::every_backend),
                         [](const auto& p) { return std::string(p.param); });

}  // namespace
