// The tasks workload against closed forms, the GPU block's strided split run on the CPU, and the
// GPU itself when there is one.
#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>

#include "backend_context.hpp"
#include "gpu_test.hpp"
#include "tandem/backend.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/kernels/tasks.hpp"
#include "tandem/runner.hpp"
#include "tandem/workloads/tasks.hpp"

namespace {

using namespace tandem;
__extension__ typedef unsigned __int128 u128;

// Independent reference: sum_{i<n} i^2 = (n-1) n (2n-1) / 6, in the compiler's 128-bit integers.
u128 closed_form(std::uint64_t n) {
  if (n == 0) return 0;
  const u128 a = n - 1, b = n, c = 2 * u128(n) - 1;
  // Divide before multiplying out so nothing overflows 128 bits for n <= 2^32.
  u128 x = a * b;  // even
  x /= 2;
  u128 y = c;
  if (x % 3 == 0) x /= 3;
  else y /= 3;
  return x * y;
}

u128 as_u128(kernels::uint128 v) { return (u128(v.hi) << 64) | v.lo; }

std::string decimal(u128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v) {
    s.insert(s.begin(), char('0' + int(v % 10)));
    v /= 10;
  }
  return s;
}

const std::uint64_t piece = kernels::tasks_piece_length;

TEST(tasks, piece_sums_match_closed_form_at_the_edges) {
  for (std::uint64_t n : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{3}, piece - 1, piece,
                          piece + 1, 2 * piece + 7, std::uint64_t{1000003}}) {
    EXPECT_EQ(as_u128(kernels::sum_of_squares(0, n, 1)), closed_form(n)) << "n=" << n;
  }
}

TEST(tasks, the_largest_task_is_exact) {
  // The last piece of n = 2^32 holds the largest squares; check it against differences of closed
  // forms instead of summing 2^32 terms.
  const std::uint64_t n = kernels::tasks_max_n;
  const std::uint64_t first = n - piece;
  EXPECT_EQ(as_u128(kernels::sum_of_squares(first, n, 1)), closed_form(n) - closed_form(first));
  EXPECT_EQ(decimal(closed_form(n)), "26409387495531407161709035520");
}

TEST(tasks, strided_block_split_adds_up_to_the_piece) {
  // What one CUDA block does: `threads` strided shares of a piece, reduced. Run here from the
  // same source, for the block size the kernel uses and for awkward ones.
  const auto p = kernels::make_tasks_params(3, 2 * piece + 12345);
  for (std::uint64_t threads : {1u, 2u, 31u, 256u, 1024u}) {
    for (std::uint64_t g = 0; g < p.count * p.pieces; ++g) {
      kernels::uint128 block;
      for (std::uint64_t t = 0; t < threads; ++t) block = kernels::add(block, kernels::piece_sum_strided(p, g, t, threads));
      const std::uint64_t k = g % p.pieces;
      const std::uint64_t b = k * piece, e = std::min((k + 1) * piece, p.n);
      ASSERT_EQ(as_u128(block), closed_form(e) - closed_form(b)) << "threads=" << threads << " g=" << g;
    }
  }
}

TEST(tasks, uint128_add_carries) {
  const kernels::uint128 a{~std::uint64_t{0}, 5}, b{1, 7};
  const kernels::uint128 s = kernels::add(a, b);
  EXPECT_EQ(s.lo, 0u);
  EXPECT_EQ(s.hi, 13u);
}

TEST(tasks, decimal_text_is_exact) {
  for (u128 v : {u128(0), u128(9), u128(10), u128(~std::uint64_t{0}), (u128(1) << 64), ~u128(0),
                 closed_form(10'000'000)}) {
    EXPECT_EQ(to_decimal({std::uint64_t(v), std::uint64_t(v >> 64)}), decimal(v));
  }
  // The published example's answer for n = 10^7, as Python prints it.
  EXPECT_EQ(decimal(closed_form(10'000'000)), "333333283333335000000");
}

class tasks_backends : public ::testing::TestWithParam<const char*> {};

// One body, every backend (gpu included, skipped by name without a device): every task against the
// closed form, at the edges of a piece, for several worker counts.
TEST_P(tasks_backends, every_task_matches_closed_form) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  for (unsigned workers : {1u, 2u, 5u}) {
    tandem::testing::backend_context ctx(b, workers);
    for (const tasks_options o : {tasks_options{1, 0}, tasks_options{3, 1}, tasks_options{5, piece + 1},
                                  tasks_options{2, 3 * piece - 1}, tasks_options{8, 10'000'000}}) {
      const tasks_result r = run_tasks(*ctx, o);
      ASSERT_EQ(r.sums.size(), o.count);
      for (const auto& s : r.sums) ASSERT_EQ(as_u128(s), closed_form(o.n)) << GetParam() << " n=" << o.n;
      EXPECT_EQ(as_u128(r.total), closed_form(o.n) * o.count);
    }
    if (b == backend::seq || b == backend::gpu) break;
  }
}

// Many tasks of one piece each: several windows of partials, folded task by task in order.
TEST_P(tasks_backends, many_small_tasks_span_several_windows) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  tandem::testing::backend_context ctx(b, 3);
  const tasks_options o{(1u << 17) + 3, 1000};
  const tasks_result r = run_tasks(*ctx, o);
  ASSERT_EQ(r.sums.size(), o.count);
  for (const auto& s : r.sums) ASSERT_EQ(as_u128(s), closed_form(o.n));
  EXPECT_EQ(as_u128(r.total), closed_form(o.n) * o.count);
}

INSTANTIATE_TEST_SUITE_P(every, tasks_backends, ::testing::ValuesIn(tandem::testing::every_backend),
                         [](const auto& p) { return std::string(p.param); });

TEST(tasks, the_largest_job_on_the_gpu) {
  TANDEM_SKIP_UNLESS_AVAILABLE(backend::gpu);
  tandem::testing::backend_context ctx(backend::gpu, 1);
  const tasks_result r = run_tasks(*ctx, {2, kernels::tasks_max_n});
  for (const auto& s : r.sums) EXPECT_EQ(as_u128(s), closed_form(kernels::tasks_max_n));
}

TEST(tasks, rejects_out_of_range_jobs) {
  EXPECT_THROW(tasks_job({1, kernels::tasks_max_n + 1}), usage_error);
  EXPECT_THROW(tasks_job({(1u << 20) + 1, 10}), usage_error);
  EXPECT_NO_THROW(tasks_job({1, kernels::tasks_max_n}));
}

// The job's plan and fold grouping depend on the problem alone.
TEST(tasks, one_chunk_per_piece_one_group_per_task) {
  const auto j = tasks_job({3, 2 * piece + 5});
  EXPECT_EQ(j.plan.chunks(), 9u);
  EXPECT_EQ(j.group_chunks, 3u);
  EXPECT_EQ(j.groups(), 3u);
  EXPECT_EQ(j.group(2), (chunk_span{6, 9}));
}

TEST(tasks_gpu, without_a_device_says_why) {
  if (gpu::available()) GTEST_SKIP() << "a CUDA device is present";
  auto w = make_tasks_workload({1, 10});
  run_options o;
  o.backends = {backend_request{backend::gpu}};
  std::ostringstream notes;
  try {
    run_workload(*w, o, notes);
    FAIL() << "gpu ran without a device";
  } catch (const unavailable_error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device"), std::string::npos) << e.what();
  }
}

}  // namespace
