// The gemm workload against a naive long double reference on odd shapes and every tile edge, on
// every backend (the gpu's schedules run on the host in the emulation build); the same bits on
// every CPU backend and worker count; BLAS single-threaded inside workers; the check; .npy in and
// out; bad shapes.
#include <gtest/gtest.h>

#include <cblas.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "backend_context.hpp"
#include "cli_runner.hpp"
#include "gemm_gpu.hpp"
#include "tandem/errors.hpp"
#include "tandem/io/npy.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/gemm.hpp"
#include "temp_dir.hpp"

namespace {

using namespace tandem;
using tandem::testing::backend_context;

struct shape {
  std::uint64_t m, n, k;
};
// 1x1, primes, tall, wide, k = 1, and one larger than a default tile's edge of 256.
const shape odd_shapes[] = {{1, 1, 1}, {7, 13, 5}, {97, 3, 11}, {3, 101, 7}, {17, 19, 1}, {31, 29, 37}, {259, 258, 3}};

template <class T>
struct problem {
  std::uint64_t m, n, k;
  shared_buffer a, b, c, c0;
  problem(shape s, std::uint64_t seed)
      : m(s.m), n(s.n), k(s.k), a(s.m * s.k * sizeof(T)), b(s.k * s.n * sizeof(T)), c(s.m * s.n * sizeof(T)),
        c0(s.m * s.n * sizeof(T)) {
    fill(a, seed, 0);
    fill(b, seed, 1);
    fill(c0, seed, 2);
  }
  static void fill(shared_buffer& x, std::uint64_t seed, std::uint32_t which) {
    const std::uint64_t key = kernels::gemm_key(seed, which);
    std::span<T> v = x.as<T>();
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = sizeof(T) == 8 ? T(kernels::gemm_value_f64(key, i)) : T(kernels::gemm_value_f32(key, i));
  }
  T* A() const { return static_cast<T*>(a.data()); }
  T* B() const { return static_cast<T*>(b.data()); }
  T* C() const { return static_cast<T*>(c.data()); }
  T* C0() const { return static_cast<T*>(c0.data()); }
  void reset_c() const { std::memcpy(c.data(), c0.data(), c.size()); }
  gemm_params params(double alpha, double beta, std::uint64_t tile) const {
    gemm_params p;
    p.a = A();
    p.b = B();
    p.c = C();
    p.c0 = C0();
    p.k = k;
    p.tiling = kernels::make_gemm_tiling(m, n, tile);
    p.alpha = alpha;
    p.beta = beta;
    p.f64 = sizeof(T) == 8;
    return p;
  }
};

// Every entry of C against the naive triple loop in long double, held to gamma_{k+2} for T
// (the reference's own error, 64-bit mantissa, is far below it).
template <class T>
void expect_close_to_reference(const problem<T>& P, double alpha, double beta, const std::string& what,
                               double u_in = 0) {
  const double u = sizeof(T) == 8 ? 0x1p-53 : 0x1p-24;
  const double bound = kernels::gemm_error_bound(P.k, u, u_in);
  for (std::uint64_t i = 0; i < P.m; ++i)
    for (std::uint64_t j = 0; j < P.n; ++j) {
      long double s = 0, mag = 0;
      for (std::uint64_t l = 0; l < P.k; ++l) {
        const long double x = (long double)P.A()[i * P.k + l] * (long double)P.B()[l * P.n + j];
        s += x;
        mag += std::fabs(x);
      }
      const long double c0 = P.C0()[i * P.n + j];
      const long double ref = alpha * s + beta * c0;
      const long double scale = std::fabs(alpha) * mag + std::fabs(beta) * std::fabs(c0);
      const long double err = std::fabs((long double)P.C()[i * P.n + j] - ref);
      ASSERT_LE(err, bound * scale) << what << " entry (" << i << ", " << j << ")";
    }
}

class gemm_backends : public ::testing::TestWithParam<const char*> {};
INSTANTIATE_TEST_SUITE_P(every_backend, gemm_backends, ::testing::ValuesIn(tandem::testing::every_backend));

// The tile sizes at the edges of a shape: 1, 2, one short of each dimension, each dimension, one
// past the larger, and the default.
std::vector<std::uint64_t> tile_edges(shape s) {
  std::vector<std::uint64_t> t{1, 2, gemm_default_tile(s.m, s.n), std::max(s.m, s.n) + 1};
  for (std::uint64_t d : {s.m, s.n}) {
    t.push_back(d);
    if (d > 1) t.push_back(d - 1);
  }
  return t;
}

template <class T>
void run_on(run_context& ctx, backend b, const problem<T>& P, double alpha, double beta, std::uint64_t tile,
            gemm_gpu_mode mode = gemm_gpu_mode::automatic, std::uint64_t budget = 0) {
  const gemm_params p = P.params(alpha, beta, tile);
  if (b == backend::gpu) {
    gemm_gpu g(*ctx.gpu, p, sizeof(T) == 8 ? gemm_dtype::f64 : gemm_dtype::f32, mode, budget);
    g.run(true);
  } else {
    run_gemm_tiles(ctx, p);
  }
}

TEST_P(gemm_backends, odd_shapes_every_tile_edge_against_the_reference) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  backend_context ctx(b, 3);
  for (const shape s : odd_shapes) {
    problem<double> P(s, 7);
    problem<float> Q(s, 8);
    for (std::uint64_t tile : tile_edges(s)) {
      if (s.m * s.n > 10000 && tile < 16) continue;  // thousands of 1x1 tiles add nothing but time
      const std::string what = std::string(GetParam()) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
                               std::to_string(s.k) + " tile " + std::to_string(tile);
      run_on(*ctx, b, P, 1.0, 0.0, tile);
      expect_close_to_reference(P, 1.0, 0.0, what + " f64");
      run_on(*ctx, b, Q, 1.0, 0.0, tile);
      expect_close_to_reference(Q, 1.0, 0.0, what + " f32");
      if (b == backend::gpu) break;  // the gpu's panels come from its budget, not the tile
    }
  }
}

TEST_P(gemm_backends, alpha_and_beta) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  backend_context ctx(b, 2);
  problem<double> P({23, 41, 19}, 3);
  problem<float> Q({23, 41, 19}, 4);
  for (const auto& [alpha, beta] : {std::pair{-0.5, 2.0}, std::pair{2.5, -1.0}, std::pair{0.0, 3.0}, std::pair{1.0, 1.0}}) {
    const std::string what = std::string(GetParam()) + " alpha " + std::to_string(alpha) + " beta " + std::to_string(beta);
    run_on(*ctx, b, P, alpha, beta, 8);
    expect_close_to_reference(P, alpha, beta, what + " f64");
    run_on(*ctx, b, Q, alpha, beta, 8);
    expect_close_to_reference(Q, alpha, beta, what + " f32");
  }
}

// The streamed schedule under a device budget that holds only a few rows and columns: panels of
// both kinds, short last panels, both streams, the initial C streamed in too.
TEST(gemm_gpu_schedule, streamed_panels_under_a_tiny_budget_match_the_reference) {
  TANDEM_SKIP_UNLESS_AVAILABLE(backend::gpu);
  backend_context ctx(backend::gpu, 1);
  problem<double> P({53, 47, 29}, 11);
  const gemm_params p = P.params(1.5, -0.75, 8);
  // B's 47 columns take 29 x 47 x 8 = 10.9 KB: a 12 KB budget forces column panels, and rows.
  gemm_gpu g(*ctx->gpu, p, gemm_dtype::f64, gemm_gpu_mode::automatic, 12 * 1024);
  EXPECT_FALSE(g.resident());
  EXPECT_LT(g.panel_cols(), P.n);
  EXPECT_LT(g.panel_rows(), P.m);
  EXPECT_GE(g.panel_rows(), 1u);
  const double sum_squares = g.run(true);
  expect_close_to_reference(P, 1.5, -0.75, "streamed");
  double s = 0;
  for (std::uint64_t i = 0; i < P.m * P.n; ++i) s += P.C()[i] * P.C()[i];
  EXPECT_NEAR(sum_squares, s, 1e-12 * s);
  // A second run starts again from C0 (the runs repeat), and gives the same bits.
  std::vector<double> first(P.C(), P.C() + P.m * P.n);
  g.run(true);
  EXPECT_EQ(0, std::memcmp(first.data(), P.C(), first.size() * sizeof(double)));
}

TEST(gemm_gpu_schedule, resident_and_tensor_core_formats) {
  TANDEM_SKIP_UNLESS_AVAILABLE(backend::gpu);
  backend_context ctx(backend::gpu, 1);
  problem<float> Q({33, 35, 31}, 5);
  for (gemm_dtype t : {gemm_dtype::f32, gemm_dtype::tf32, gemm_dtype::bf16, gemm_dtype::f16}) {
    for (std::uint64_t budget : {std::uint64_t{0}, std::uint64_t{6000}}) {
      const gemm_params p = Q.params(1.0, 0.5, 8);
      gemm_gpu g(*ctx->gpu, p, t, gemm_gpu_mode::automatic, budget);
      EXPECT_EQ(g.resident(), budget == 0);
      g.run(true);
      const gemm_check_result r = check_gemm(p, Q.m, Q.n, t);
      EXPECT_TRUE(r.passed) << to_string(t) << " budget " << budget << ": " << r.max_rel_error << " > " << r.bound;
      EXPECT_EQ(r.entries, Q.m * Q.n);
    }
  }
  const gemm_params p = Q.params(1.0, 0.0, 8);
  EXPECT_THROW(gemm_gpu(*ctx->gpu, p, gemm_dtype::f32, gemm_gpu_mode::resident, 100), usage_error);
  EXPECT_THROW(gemm_gpu(*ctx->gpu, p, gemm_dtype::f32, gemm_gpu_mode::streamed, 100), usage_error);
}

// For a given tile, seq, threads and procs with any worker count give C bit for bit.
TEST(gemm, the_same_bits_on_every_cpu_backend_and_worker_count) {
  problem<double> P({67, 71, 53}, 21);
  problem<float> Q({67, 71, 53}, 22);
  backend_context seq(backend::seq, 1);
  run_on(*seq, backend::seq, P, 1.25, 0.5, 16);
  run_on(*seq, backend::seq, Q, 1.25, 0.5, 16);
  const std::vector<double> want_d(P.C(), P.C() + P.m * P.n);
  const std::vector<float> want_f(Q.C(), Q.C() + Q.m * Q.n);
  for (backend b : {backend::threads, backend::procs})
    for (unsigned w : {1u, 2u, 3u, 4u}) {
      backend_context ctx(b, w);
      std::memset(P.C(), 0, P.c.size());
      std::memset(Q.C(), 0, Q.c.size());
      run_on(*ctx, b, P, 1.25, 0.5, 16);
      run_on(*ctx, b, Q, 1.25, 0.5, 16);
      EXPECT_EQ(0, std::memcmp(want_d.data(), P.C(), P.c.size())) << to_string(b) << " x" << w;
      EXPECT_EQ(0, std::memcmp(want_f.data(), Q.C(), Q.c.size())) << to_string(b) << " x" << w;
    }
}

// The oversubscription guard: whatever the caller's OpenBLAS thread count, every tile ran with
// one BLAS thread (seen inside the worker, procs included), and the caller's count is back after.
TEST(gemm, blas_runs_single_threaded_inside_workers) {
  problem<double> P({96, 96, 64}, 1);
  openblas_set_num_threads(2);
  ASSERT_EQ(openblas_get_num_threads(), 2);
  for (backend b : {backend::seq, backend::threads, backend::procs}) {
    backend_context ctx(b, 2);
    const gemm_run_summary s = run_gemm_tiles(*ctx, P.params(1, 0, 32));
    EXPECT_EQ(s.max_blas_threads, 1) << to_string(b);
    EXPECT_EQ(openblas_get_num_threads(), 2) << to_string(b) << ": the caller's setting was not restored";
  }
}

TEST(gemm, library_call_in_place_with_beta) {
  problem<double> P({45, 39, 27}, 9);
  P.reset_c();
  backend_context ctx(backend::threads, 2);
  gemm(*ctx, P.m, P.n, P.k, 0.5, P.A(), P.B(), -2.0, P.C(), 10);
  expect_close_to_reference(P, 0.5, -2.0, "in place");
  // procs refuses memory its workers cannot see, naming it.
  std::vector<double> a(4, 1.0), b(4, 1.0), c(4, 0.0);
  backend_context procs(backend::procs, 2);
  EXPECT_ANY_THROW(gemm(*procs, 2, 2, 2, 1.0, a.data(), b.data(), 0.0, c.data()));
}

TEST(gemm, the_check_passes_a_right_product_and_fails_a_wrong_one) {
  problem<double> P({300, 280, 90}, 2);  // more than 2^16 entries: the 64 x 64 sample
  backend_context ctx(backend::seq, 1);
  const gemm_params p = P.params(1, 1, 128);
  run_gemm_tiles(*ctx, p);
  gemm_check_result r = check_gemm(p, P.m, P.n, gemm_dtype::f64);
  EXPECT_TRUE(r.passed);
  EXPECT_EQ(r.entries, gemm_check_sample_side * gemm_check_sample_side);
  EXPECT_LT(r.max_rel_error, r.bound);
  EXPECT_DOUBLE_EQ(r.bound, kernels::gemm_error_bound(90, 0x1p-53, 0));
  // Row 0 and column 0 are always sampled: one wrong entry there fails the check.
  P.C()[0] += 1e-9;
  r = check_gemm(p, P.m, P.n, gemm_dtype::f64);
  EXPECT_FALSE(r.passed);
  P.C()[0] = std::nan("");
  EXPECT_FALSE(check_gemm(p, P.m, P.n, gemm_dtype::f64).passed);
}

// MPI without mpirun: rank r of P computes only its block of rows of tiles (gemm_rank_rows), from
// its rows of A and the initial C, into a C of its rows only. The blocks, laid end to end in rank
// order, must be the whole run's C bit for bit, their group sums the whole run's in group order
// (so the fold on rank 0 gives the same Frobenius norm), and the blocks' checks merged the whole
// check; on every CPU backend and the gpu engine (both schedules), P = 1 .. 5 (empty ranks too).
template <class T>
void expect_rank_blocks_equal_the_whole(backend b, shape sh, std::uint64_t tile, double alpha, double beta,
                                        std::uint64_t budget = 0) {
  const std::string what = std::string(to_string(b)) + " " + std::to_string(sh.m) + "x" + std::to_string(sh.n) + "x" +
                           std::to_string(sh.k) + " tile " + std::to_string(tile) + " budget " + std::to_string(budget);
  backend_context ctx(b, 3);
  problem<T> P(sh, 31);
  const gemm_params whole = P.params(alpha, beta, tile);
  const gemm_dtype dt = sizeof(T) == 8 ? gemm_dtype::f64 : gemm_dtype::f32;
  std::vector<double> want_sums;
  if (b == backend::gpu) {
    gemm_gpu g(*ctx->gpu, whole, dt, gemm_gpu_mode::automatic, budget);
    g.run(true);
    want_sums = g.group_sums();
  } else {
    want_sums = run_gemm_groups(*ctx, whole, {0, std::size_t(whole.tiling.row_tiles)});
  }
  ASSERT_EQ(want_sums.size(), whole.tiling.row_tiles) << what;
  const std::vector<T> want_c(P.C(), P.C() + P.m * P.n);
  const gemm_check_result want_check = check_gemm(whole, P.m, P.n, dt);
  for (int size = 1; size <= 5; ++size) {
    std::vector<T> c(P.m * P.n, T(-7));
    std::vector<double> sums;
    std::optional<gemm_check_result> check;
    std::uint64_t next_row = 0;
    for (int rank = 0; rank < size; ++rank) {
      const gemm_rows rows = gemm_rank_rows(whole.tiling, rank, size);
      ASSERT_EQ(rows.first, rank == 0 ? 0 : next_row) << what << " rank " << rank << " of " << size;
      next_row = rows.last;
      // The rank's own copies of its rows: nothing outside them can be read.
      shared_buffer a(rows.count() * P.k * sizeof(T) + 1), c0(rows.count() * P.n * sizeof(T) + 1),
          cb(rows.count() * P.n * sizeof(T) + 1);
      std::memcpy(a.data(), P.A() + rows.first * P.k, rows.count() * P.k * sizeof(T));
      std::memcpy(c0.data(), P.C0() + rows.first * P.n, rows.count() * P.n * sizeof(T));
      gemm_params p = whole;
      p.a = a.data();
      p.c = cb.data();
      p.c0 = c0.data();
      p.row0 = rows.first;
      std::vector<double> mine;
      if (b == backend::gpu) {
        gemm_gpu g(*ctx->gpu, p, dt, gemm_gpu_mode::automatic, budget, rows);
        g.run(true);
        mine = g.group_sums();
      } else {
        mine = run_gemm_groups(*ctx, p, {rows.group_first, rows.group_last});
      }
      ASSERT_EQ(mine.size(), rows.group_last - rows.group_first) << what;
      sums.insert(sums.end(), mine.begin(), mine.end());
      std::memcpy(c.data() + rows.first * P.n, cb.data(), rows.count() * P.n * sizeof(T));
      const gemm_check_result part = check_gemm(p, P.m, P.n, dt, rows);
      check = check ? merge_checks(*check, part) : part;
    }
    ASSERT_EQ(next_row, P.m) << what << " P " << size;
    EXPECT_EQ(0, std::memcmp(want_c.data(), c.data(), c.size() * sizeof(T))) << what << " P " << size;
    ASSERT_EQ(sums.size(), want_sums.size()) << what << " P " << size;
    for (std::size_t g = 0; g < sums.size(); ++g)
      EXPECT_EQ(std::bit_cast<std::uint64_t>(sums[g]), std::bit_cast<std::uint64_t>(want_sums[g]))
          << what << " P " << size << " group " << g;
    EXPECT_EQ(check->entries, want_check.entries) << what << " P " << size;
    EXPECT_EQ(std::bit_cast<std::uint64_t>(check->max_rel_error), std::bit_cast<std::uint64_t>(want_check.max_rel_error))
        << what << " P " << size;
    EXPECT_EQ(check->passed, want_check.passed);
  }
  // Outside mpirun the fold is the plain sum in group order: the norm the whole run reports.
  if (b != backend::gpu) {
    std::memcpy(P.C(), P.C0(), P.c.size());
    EXPECT_EQ(std::sqrt(fold_gemm_group_sums(want_sums.size(), want_sums)), run_gemm_tiles(*ctx, whole).frobenius_norm);
  }
}

TEST_P(gemm_backends, rank_blocks_of_rows_equal_the_whole_run) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  // One group (every rank but 0 empty), a few groups (more ranks than groups), a prime number of
  // groups with a short last one, and the 64 x 64 sampled check.
  expect_rank_blocks_equal_the_whole<double>(b, {1, 1, 1}, 4, 1, 0);
  expect_rank_blocks_equal_the_whole<double>(b, {7, 13, 5}, 2, 1.25, 0.5);
  expect_rank_blocks_equal_the_whole<float>(b, {97, 3, 11}, 8, -0.5, 2);
  expect_rank_blocks_equal_the_whole<double>(b, {300, 280, 19}, 23, 1, 0);
  if (b == backend::gpu) {  // the streamed schedule: panels of rows inside each group
    expect_rank_blocks_equal_the_whole<double>(b, {53, 47, 29}, 8, 1.5, -0.75, 12 * 1024);
    expect_rank_blocks_equal_the_whole<float>(b, {97, 31, 11}, 9, 1, 1, 3000);
  }
}

TEST(gemm, rank_rows_cover_the_rows_of_tiles_in_rank_order) {
  // 13 rows of tiles (the last short) over 1 .. 16 ranks: contiguous, whole groups, rank order.
  const kernels::gemm_tiling t = kernels::make_gemm_tiling(100, 10, 8);
  for (int size = 1; size <= 16; ++size) {
    std::uint64_t row = 0;
    std::size_t group = 0;
    for (int rank = 0; rank < size; ++rank) {
      const gemm_rows r = gemm_rank_rows(t, rank, size);
      EXPECT_EQ(r.first, row);
      EXPECT_EQ(r.group_first, group);
      EXPECT_EQ(r.first, std::min<std::uint64_t>(r.group_first * 8, 100));
      EXPECT_EQ(r.last, std::min<std::uint64_t>(r.group_last * 8, 100));
      // Blocks differ by at most one group, the larger first.
      EXPECT_LE(r.group_last - r.group_first, 13 / std::size_t(size) + 1);
      row = r.last;
      group = r.group_last;
    }
    EXPECT_EQ(row, 100u);
    EXPECT_EQ(group, 13u);
  }
}

TEST(gemm_kernels, tiles_cover_c_exactly_once) {
  for (const shape s : odd_shapes)
    for (std::uint64_t tile : tile_edges(s)) {
      const kernels::gemm_tiling g = kernels::make_gemm_tiling(s.m, s.n, tile);
      std::vector<int> hits(s.m * s.n, 0);
      for (std::uint64_t t = 0; t < g.row_tiles * g.col_tiles; ++t) {
        const kernels::gemm_tile tl = kernels::tile_of(g, t);
        ASSERT_GE(tl.rows, 1u);
        ASSERT_GE(tl.cols, 1u);
        for (std::uint64_t r = 0; r < tl.rows; ++r)
          for (std::uint64_t c = 0; c < tl.cols; ++c) ++hits[(tl.row0 + r) * s.n + tl.col0 + c];
      }
      for (int h : hits) ASSERT_EQ(h, 1) << s.m << "x" << s.n << " tile " << tile;
    }
}

// Every finite half and bfloat16 survives float and back; rounding is to nearest, ties to even,
// checked against the halfway points between neighbours.
TEST(gemm_kernels, sixteen_bit_conversions_round_to_nearest_even) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00u) != 0x7c00u) {  // finite half
      const float x = kernels::from_f16_bits(std::uint16_t(h));
      ASSERT_EQ(kernels::to_f16_bits(x), h) << std::hex << h;
    }
    if ((h & 0x7f80u) != 0x7f80u) {
      const float x = kernels::from_bf16_bits(std::uint16_t(h));
      ASSERT_EQ(kernels::to_bf16_bits(x), h) << std::hex << h;
    }
  }
  EXPECT_EQ(kernels::to_f16_bits(1.0f + 0x1p-11f), kernels::to_f16_bits(1.0f));                 // tie: even
  EXPECT_EQ(kernels::to_f16_bits(1.0f + 3 * 0x1p-11f), kernels::to_f16_bits(1.0f + 0x1p-9f));   // tie: even (up)
  EXPECT_EQ(kernels::to_f16_bits(1.0f + 0x1p-11f + 0x1p-20f), kernels::to_f16_bits(1.0f + 0x1p-10f));
  EXPECT_EQ(kernels::to_bf16_bits(1.0f + 0x1p-8f), kernels::to_bf16_bits(1.0f));
  EXPECT_EQ(kernels::to_f16_bits(0x1p-25f * 3), 2u);  // subnormal: 1.5 ulps -> 2 (even)
  EXPECT_EQ(kernels::to_f16_bits(70000.0f), 0x7c00u);
}

// --- the workload through the CLI ---

void write_npy(const std::string& path, npy_dtype t, std::vector<std::uint64_t> shape, const void* data, std::size_t bytes) {
  std::ofstream f(path, std::ios::binary);
  const std::string h = npy_header(t, shape);
  f.write(h.data(), std::streamsize(h.size()));
  f.write(static_cast<const char*>(data), std::streamsize(bytes));
}

TEST(gemm_cli, npy_round_trip_on_every_cpu_backend) {
  tandem::testing::temp_dir dir;
  problem<double> P({37, 23, 41}, 77);
  write_npy(dir / "a.npy", npy_dtype::f64, {P.m, P.k}, P.A(), P.a.size());
  write_npy(dir / "b.npy", npy_dtype::f64, {P.k, P.n}, P.B(), P.b.size());
  const auto r = tandem::testing::run_cli("gemm --a " + dir / "a.npy" + " --b " + dir / "b.npy" + " --output " +
                                          dir / "c.npy" + " --tile 16 --check --backend seq,threads,procs --repeat 1 --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const auto& rec : j["results"]) {
    EXPECT_EQ(rec["result"]["m"], 37);
    EXPECT_EQ(rec["result"]["k"], 41);
    EXPECT_TRUE(rec["result"]["check_passed"].get<bool>());
    EXPECT_LE(rec["result"]["max_rel_error"].get<double>(), rec["result"]["bound"].get<double>());
    EXPECT_EQ(rec["throughput"]["unit"], "flop/s");
  }
  // C from the file: the library's bits for the same tile, and close to the reference.
  const std::string bytes = tandem::testing::slurp(dir / "c.npy");
  const npy_array h = parse_npy_header(std::as_bytes(std::span(bytes.data(), bytes.size())), "c.npy");
  ASSERT_EQ(h.shape, (std::vector<std::uint64_t>{37, 23}));
  ASSERT_EQ(h.dtype, npy_dtype::f64);
  backend_context seq(backend::seq, 1);
  run_on(*seq, backend::seq, P, 1, 0, 16);
  EXPECT_EQ(0, std::memcmp(bytes.data() + h.data_offset, P.C(), P.c.size()));
  EXPECT_FALSE(std::filesystem::exists(dir / "c.npy.tmp"));
}

TEST(gemm_cli, bad_shapes_and_flags_are_one_line_and_exit_2) {
  tandem::testing::temp_dir dir;
  std::vector<float> f(6, 1.0f);
  std::vector<double> d(12, 1.0);
  write_npy(dir / "a23.npy", npy_dtype::f64, {2, 3}, d.data(), 6 * 8);
  write_npy(dir / "b43.npy", npy_dtype::f64, {4, 3}, d.data(), 12 * 8);
  write_npy(dir / "b32f.npy", npy_dtype::f32, {3, 2}, f.data(), 6 * 4);
  write_npy(dir / "b32.npy", npy_dtype::f64, {3, 2}, d.data(), 6 * 8);
  write_npy(dir / "z.npy", npy_dtype::f64, {0, 3}, d.data(), 0);
  write_npy(dir / "v.npy", npy_dtype::f64, {3}, d.data(), 3 * 8);
  const std::pair<std::string, std::string> cases[] = {
      {"--m 0", "--m"},
      {"--k -1", "--k"},
      {"--tile 0", "--tile"},
      {"--m 2000000000 --n 2000000000 --k 2", "limit is 3/4"},
      {"--m 3000000000", "--m"},
      {"--a " + dir / "a23.npy", "--a and --b go together"},
      {"--a " + dir / "a23.npy" + " --b " + dir / "b43.npy", "shapes do not match"},
      {"--a " + dir / "a23.npy" + " --b " + dir / "b32f.npy", "dtype mismatch"},
      {"--a " + dir / "a23.npy" + " --b " + dir / "b32.npy" + " --dtype f32", "dtype mismatch"},
      {"--a " + dir / "z.npy" + " --b " + dir / "b32.npy", "at least 1"},
      {"--a " + dir / "v.npy" + " --b " + dir / "b32.npy", "dimensions"},
      {"--a " + dir / "missing.npy" + " --b " + dir / "b32.npy", "missing.npy"},
      {"--dtype f8", "--dtype"},
      {"--alpha nan", "--alpha"},
      {"--output " + dir / "nodir/c.npy", "nodir"},
      // C written onto an operand would replace it.
      {"--a " + dir / "a23.npy" + " --b " + dir / "b32.npy" + " --output " + dir / "a23.npy", "it is the --a file"},
      {"--a " + dir / "a23.npy" + " --b " + dir / "b32.npy" + " --output " + dir / "b32.npy", "it is the --b file"},
      // Sizes for generated operands, given with files: a mistake, not ignored.
      {"--a " + dir / "a23.npy" + " --b " + dir / "b32.npy" + " --k 5", "--k sizes generated operands"},
  };
  const std::string a_bytes = tandem::testing::slurp(dir / "a23.npy"), b_bytes = tandem::testing::slurp(dir / "b32.npy");
  for (const auto& [args, words] : cases) {
    const auto r = tandem::testing::run_cli("gemm --backend seq --repeat 1 " + args);
    EXPECT_EQ(r.status, 2) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
    EXPECT_NE(r.err.find(words), std::string::npos) << args << ": " << r.err;
  }
  EXPECT_EQ(tandem::testing::slurp(dir / "a23.npy"), a_bytes);
  EXPECT_EQ(tandem::testing::slurp(dir / "b32.npy"), b_bytes);
}

TEST(gemm_cli, tensor_core_formats_are_gpu_only) {
  const auto r = tandem::testing::run_cli("gemm --m 8 --n 8 --k 8 --dtype bf16 --backend threads --repeat 1");
  EXPECT_EQ(r.status, 3) << r.err;
  EXPECT_NE(r.err.find("tensor-core"), std::string::npos) << r.err;
}

}  // namespace
