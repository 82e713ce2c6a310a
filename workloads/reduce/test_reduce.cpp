// The reduce workload's default (compensated) mode: every SIMD level against the scalar lanes,
// every backend against `seq`, accuracy against exact references, the IEEE special values, empty
// input, the file inputs and their errors, and the GPU engine's resident and streamed paths.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backend_context.hpp"
#include "reduce_cpu.hpp"
#include "reduce_gpu.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/io/npy.hpp"
#include "tandem/shared_buffer.hpp"
#include "tandem/workloads/reduce.hpp"
#include "temp_dir.hpp"

namespace {

using namespace tandem;
using kernels::reduce_partial;
namespace tt = tandem::testing;
__extension__ typedef __int128 i128;

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr std::uint64_t chunk = reduce_chunk_elements;

const std::uint32_t every_pass[] = {kernels::pass_sum, kernels::pass_sumsq, kernels::pass_minmax,
                                    kernels::pass_var,
                                    kernels::pass_sum | kernels::pass_sumsq | kernels::pass_var | kernels::pass_minmax};

// The scalar lanes of kernels/reduce.hpp for a pass chosen at run time.
template <class In>
reduce_partial scalar_partial(std::uint32_t pass, const In* x, std::uint64_t n) {
  using namespace kernels;
  switch (pass) {
    case pass_sum: return chunk_partial_scalar<pass_sum>(x, n);
    case pass_sumsq: return chunk_partial_scalar<pass_sumsq>(x, n);
    case pass_minmax: return chunk_partial_scalar<pass_minmax>(x, n);
    case pass_var: return chunk_partial_scalar<pass_var>(x, n);
    default: return chunk_partial_scalar<pass_sum | pass_sumsq | pass_var | pass_minmax>(x, n);
  }
}

// The same bits, except that any NaN equals any NaN: which NaN an operation returns (its sign and
// payload) differs between x86's operand orders and the GPU's canonical NaN; a NaN result is
// reported as "nan" whatever its bits.
bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(const reduce_partial& a, const reduce_partial& b) {
  const double fa[] = {a.shift, a.sum.hi, a.sum.lo, a.sumsq.hi, a.sumsq.lo, a.dsum.hi, a.dsum.lo, a.dsq.hi, a.dsq.lo, a.mn, a.mx};
  const double fb[] = {b.shift, b.sum.hi, b.sum.lo, b.sumsq.hi, b.sumsq.lo, b.dsum.hi, b.dsum.lo, b.dsq.hi, b.dsq.lo, b.mn, b.mx};
  for (std::size_t i = 0; i < std::size(fa); ++i)
    if (!same_value(fa[i], fb[i])) return false;
  return a.n == b.n;
}

std::vector<double> random_data(std::size_t n, std::uint32_t seed, double offset = 0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> d(offset, 1.0);
  std::vector<double> x(n);
  for (double& v : x) v = d(g);
  return x;
}

// Data held in shared memory, so every backend (procs included) can read it.
struct shared_array {
  shared_buffer buf;
  reduce_input in;
  template <class T>
  explicit shared_array(const std::vector<T>& x)
      : buf(std::max<std::size_t>(x.size() * sizeof(T), 1)),
        in{buf.data(), x.size(), sizeof(T) == 4 ? reduce_dtype::f32 : reduce_dtype::f64} {
    if (!x.empty()) std::memcpy(buf.data(), x.data(), x.size() * sizeof(T));
  }
};

reduce_result run_seq(const reduce_input& in, reduce_op op) {
  tt::backend_context ctx(backend::seq, 1);
  return run_reduce(*ctx, in, op, false);
}

class simd_levels : public ::testing::TestWithParam<const char*> {
 protected:
  void TearDown() override { detail::force_reduce_simd(""); }
};

TEST_P(simd_levels, vector_lanes_give_the_scalar_lanes_bits) {
  try {
    detail::force_reduce_simd(GetParam());
  } catch (const usage_error& e) {
    GTEST_SKIP() << e.what();
  }
  std::vector<double> x = random_data(3000, 7, 3.0);
  x[100] = 1e300;
  x[101] = -1e300;
  x[555] = 1e-310;  // subnormal
  std::vector<float> xf(x.begin(), x.end());
  for (std::uint32_t pass : every_pass)
    for (std::size_t n : {0, 1, 31, 32, 33, 95, 1000, 3000}) {
      EXPECT_TRUE(same_bits(detail::reduce_chunk(x.data(), n, pass), scalar_partial(pass, x.data(), n)))
          << "f64 pass " << pass << " n " << n;
      EXPECT_TRUE(same_bits(detail::reduce_chunk(xf.data(), n, pass), scalar_partial(pass, xf.data(), n)))
          << "f32 pass " << pass << " n " << n;
    }
  // NaN and infinities in every lane position.
  std::vector<double> s = random_data(200, 8);
  s[3] = inf;
  s[40] = -inf;
  s[77] = qnan;
  for (std::uint32_t pass : every_pass)
    EXPECT_TRUE(same_bits(detail::reduce_chunk(s.data(), s.size(), pass), scalar_partial(pass, s.data(), s.size())));
}

INSTANTIATE_TEST_SUITE_P(reduce, simd_levels, ::testing::Values("scalar", "avx2", "avx512"));

class every_backend : public ::testing::TestWithParam<const char*> {};

TEST_P(every_backend, gives_the_bits_of_seq_at_the_chunk_edges) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{chunk - 1}, std::size_t{chunk + 1},
                        std::size_t{3 * chunk + 17}, std::size_t{65 * chunk + 5}}) {
    const shared_array d(random_data(n, unsigned(n) + 1, 5.0));
    const std::vector<double> g = random_data(n, unsigned(n) + 2);
    const std::vector<float> f(g.begin(), g.end());
    const shared_array df(f);
    for (const shared_array* a : {&d, &df}) {
      const nlohmann::json want = result_json(run_seq(a->in, reduce_op::all));
      for (unsigned workers : {1u, 2u, 3u}) {
        tt::backend_context ctx(b, workers);
        EXPECT_EQ(result_json(run_reduce(*ctx, a->in, reduce_op::all, false)), want)
            << "n " << n << " workers " << workers;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(reduce, every_backend, ::testing::ValuesIn(tt::every_backend));

TEST(reduce_accuracy, two_to_the_25_float_ones_sum_exactly) {
  const shared_array a(std::vector<float>(std::size_t{1} << 25, 1.0f));
  const reduce_result r = run_seq(a.in, reduce_op::sum);
  EXPECT_EQ(r.v.sum, 33554432.0);
  EXPECT_EQ(r.dtype, reduce_dtype::f32);
}

TEST(reduce_accuracy, cancellation_keeps_the_small_terms) {
  const shared_array a(std::vector<double>{1e16, 1.0, -1e16});
  EXPECT_EQ(run_seq(a.in, reduce_op::sum).v.sum, 1.0);
  // The same across chunk boundaries: the big terms in different chunks.
  std::vector<double> x(2 * chunk + 3, 0.0);
  x[0] = 1e16;
  x[chunk] = 3.0;
  x[2 * chunk + 2] = -1e16;
  const shared_array b(x);
  EXPECT_EQ(run_seq(b.in, reduce_op::sum).v.sum, 3.0);
}

// Long double sums in sorted order of magnitude are not exact; an exact reference for sums of
// doubles whose exponents lie in a narrow band: scale to integers and add in __int128.
TEST(reduce_accuracy, sum_and_mean_match_an_exact_integer_reference) {
  std::mt19937_64 g(11);
  std::vector<double> x(5 * chunk + 99);
  i128 exact = 0;
  for (double& v : x) {
    const std::int64_t m = std::int64_t(g() >> 11) - (std::int64_t{1} << 52);  // |m| < 2^53
    v = std::ldexp(double(m), -40);                                              // exact
    exact += m;
  }
  const shared_array a(x);
  const reduce_result r = run_seq(a.in, reduce_op::all);
  // |exact| < 2^53 * n, so its double is one rounding of the integer; compensated summation finds it.
  const double want = std::ldexp(double(exact), -40);
  EXPECT_EQ(r.v.sum, want);
  EXPECT_NEAR(r.v.mean, want / double(x.size()), std::abs(want / double(x.size())) * 1e-15);
}

TEST(reduce_accuracy, default_sum_is_within_the_compensated_bound_over_the_whole_exponent_range) {
  // Random signs and exponent fields 1..2040 (so no single value overflows a sum of two): the
  // compensated sum must be within eps |S| + n eps^2 sum|x| of the exact sum (--exact's, which its
  // own tests check against GMP rationals). NumPy's pairwise bound is (log2 n) eps sum|x|.
  std::mt19937_64 g(99);
  std::vector<double> x(4 * chunk + 77);
  double abs_sum = 0;
  for (double& v : x) {
    const std::uint64_t bits = (g() & 0x800fffffffffffffull) | (std::uint64_t(1 + g() % 2040) << 52);
    std::memcpy(&v, &bits, sizeof v);
  }
  // Keep the sum finite: scale the largest values down.
  for (double& v : x) {
    if (std::abs(v) > 1e300) v *= 1e-10;
    abs_sum += std::abs(v);
  }
  const shared_array a(x);
  tt::backend_context ctx(backend::threads, 2);
  const double exact = run_reduce(*ctx, a.in, reduce_op::sum, true).v.sum;
  const double fast = run_reduce(*ctx, a.in, reduce_op::sum, false).v.sum;
  const double eps = 0x1p-53, n = double(x.size());
  EXPECT_LE(std::abs(fast - exact), eps * std::abs(exact) + n * eps * eps * abs_sum) << fast << " vs " << exact;
  // The same with cancellation: the data and its negation, plus one small value.
  std::vector<double> y = x;
  for (double v : x) y.push_back(-v);
  y.push_back(0.1);
  const shared_array b(y);
  EXPECT_EQ(run_reduce(*ctx, b.in, reduce_op::sum, true).v.sum, 0.1);
  EXPECT_LE(std::abs(run_reduce(*ctx, b.in, reduce_op::sum, false).v.sum - 0.1),
            0.1 * eps + 2 * n * eps * eps * 2 * abs_sum);
}

TEST(reduce_accuracy, variance_survives_a_large_mean) {
  // Mean 1e8, spread 1: the naive sum-of-squares formula loses every digit here.
  const std::vector<double> x = random_data(7 * chunk + 5, 3, 1e8);
  long double mean = 0;
  for (double v : x) mean += v;
  mean /= x.size();
  long double m2 = 0, sq = 0;
  for (double v : x) {
    m2 += (v - mean) * (v - mean);
    sq += (long double)v * v;
  }
  const long double var = m2 / x.size();
  const shared_array a(x);
  const reduce_result r = run_seq(a.in, reduce_op::all);
  EXPECT_NEAR(r.v.var, double(var), double(var) * 1e-12);
  EXPECT_NEAR(r.v.std, std::sqrt(double(var)), std::sqrt(double(var)) * 1e-12);
  EXPECT_NEAR(r.v.mean, double(mean), 1e8 * 4e-16);
  EXPECT_NEAR(r.v.sumsq, double(sq), double(sq) * 1e-15);
  double mn = inf, mx = -inf;
  for (double v : x) mn = std::min(mn, v), mx = std::max(mx, v);
  EXPECT_EQ(r.v.min, mn);
  EXPECT_EQ(r.v.max, mx);
}

TEST(reduce_special_values, follow_ieee_and_numpy) {
  auto all = [](std::vector<double> x) { return run_seq(shared_array(x).in, reduce_op::all); };
  std::vector<double> x = random_data(1000, 5);
  x[10] = inf;
  reduce_result r = all(x);
  EXPECT_EQ(r.v.sum, inf);
  EXPECT_EQ(r.v.max, inf);
  EXPECT_TRUE(std::isnan(r.v.var));
  x[20] = -inf;
  r = all(x);
  EXPECT_TRUE(std::isnan(r.v.sum));
  EXPECT_EQ(r.v.min, -inf);
  x[20] = 0;
  x[999] = qnan;
  r = all(x);
  EXPECT_TRUE(std::isnan(r.v.sum));
  EXPECT_TRUE(std::isnan(r.v.min));
  EXPECT_TRUE(std::isnan(r.v.max));
  EXPECT_TRUE(std::isnan(r.v.std));
  // Overflow of a plain running sum is inf, as in NumPy.
  r = all({1.7e308, 1.7e308});
  EXPECT_EQ(r.v.sum, inf);
}

TEST(reduce_special_values, empty_input) {
  const reduce_result r = run_seq(reduce_input{nullptr, 0, reduce_dtype::f64}, reduce_op::all);
  EXPECT_EQ(r.v.sum, 0.0);
  EXPECT_EQ(r.v.sumsq, 0.0);
  EXPECT_TRUE(std::isnan(r.v.mean));
  EXPECT_TRUE(std::isnan(r.v.var));
  EXPECT_TRUE(std::isnan(r.v.min));
  const nlohmann::json j = result_json(r);
  EXPECT_EQ(j["mean"], "nan");
  EXPECT_EQ(j["n"], 0);
}

TEST(reduce_json, one_value_or_every_op) {
  const shared_array a(std::vector<double>{1, 2, 3, 4});
  const nlohmann::json s = result_json(run_seq(a.in, reduce_op::std));
  EXPECT_EQ(s["dtype"], "f64");
  EXPECT_DOUBLE_EQ(s["value"].get<double>(), std::sqrt(1.25));
  EXPECT_FALSE(s.contains("sum"));
  const nlohmann::json all = result_json(run_seq(a.in, reduce_op::all));
  EXPECT_EQ(all["sum"], 10.0);
  EXPECT_EQ(all["min"], 1.0);
  EXPECT_EQ(all["max"], 4.0);
  EXPECT_EQ(all["var"], 1.25);
}

// --- --exact through the workload's job ------------------------------------------------------------

TEST_P(every_backend, exact_mode_gives_the_bits_of_seq_at_the_chunk_edges) {
  const backend b = *parse_backend(GetParam());
  TANDEM_SKIP_UNLESS_AVAILABLE(b);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{chunk + 1}, std::size_t{65 * chunk + 5}}) {
    std::vector<double> x = random_data(n, unsigned(n) + 3, 1e3);
    if (n > 10) x[n / 2] = 1e300, x[n / 3] = -1e300, x[n - 1] = 1e-310;  // cancel and a subnormal
    const std::vector<float> f(x.begin(), x.end());
    for (const shared_array* a : {new shared_array(x), new shared_array(f)}) {
      tt::backend_context seq(backend::seq, 1);
      const nlohmann::json want = result_json(run_reduce(*seq, a->in, reduce_op::all, true));
      EXPECT_EQ(want["exact"], true);
      for (unsigned workers : {1u, 3u}) {
        tt::backend_context ctx(b, workers);
        EXPECT_EQ(result_json(run_reduce(*ctx, a->in, reduce_op::all, true)), want) << "n " << n << " workers " << workers;
      }
      delete a;
    }
  }
}

TEST(reduce_exact, rounds_once_correctly_across_chunks) {
  // 1 + 2^-53 is a tie between 1 and 1 + 2^-52; the 2^-106 far away in another chunk breaks it
  // upwards. Rounding the partial sums (or even double-double) on the way gets 1.
  std::vector<double> x(3 * chunk, 0.0);
  x[0] = 1.0;
  x[chunk + 5] = 0x1p-53;
  x[2 * chunk + 7] = 0x1p-106;
  const shared_array a(x);
  tt::backend_context ctx(backend::threads, 2);
  const reduce_result r = run_reduce(*ctx, a.in, reduce_op::sum, true);
  EXPECT_EQ(r.v.sum, 1.0 + 0x1p-52);
  // Without the 2^-106 the tie goes to even: 1.
  x[2 * chunk + 7] = 0.0;
  EXPECT_EQ(run_reduce(*ctx, shared_array(x).in, reduce_op::sum, true).v.sum, 1.0);
  // Cancellation: exactly 1.
  const shared_array c(std::vector<double>{1e16, 1.0, -1e16});
  EXPECT_EQ(run_reduce(*ctx, c.in, reduce_op::sum, true).v.sum, 1.0);
}

TEST(reduce_exact, float_data_rounds_to_float_directly) {
  // 2^24 + 1 + 2^-30 (three floats) is just above the tie between the floats 2^24 and 2^24 + 2:
  // it rounds up; 2^24 + 1 alone is the tie, which goes to even (2^24).
  const shared_array a(std::vector<float>{16777216.0f, 1.0f, 0x1p-30f});
  tt::backend_context ctx(backend::seq, 1);
  EXPECT_EQ(run_reduce(*ctx, a.in, reduce_op::sum, true).v.sum, 16777218.0);
  const shared_array b(std::vector<float>{16777216.0f, 1.0f});
  EXPECT_EQ(run_reduce(*ctx, b.in, reduce_op::sum, true).v.sum, 16777216.0);
  const shared_array ones(std::vector<float>(std::size_t{1} << 25, 1.0f));
  const reduce_result r = run_reduce(*ctx, ones.in, reduce_op::all, true);
  EXPECT_EQ(r.v.sum, 33554432.0);
  EXPECT_EQ(r.v.mean, 1.0);
  EXPECT_EQ(r.v.var, 0.0);
  EXPECT_EQ(r.v.min, 1.0);
}

TEST(reduce_exact, variance_of_small_integers_is_exact) {
  // 1..n: var = (n^2 - 1) / 12 exactly; n = 3 * chunk + 1 keeps it an exact double.
  const std::size_t n = 3 * chunk + 1;
  std::vector<double> x(n);
  for (std::size_t i = 0; i < n; ++i) x[i] = double(i + 1);
  const shared_array a(x);
  tt::backend_context ctx(backend::threads, 2);
  const reduce_result r = run_reduce(*ctx, a.in, reduce_op::all, true);
  const double nd = double(n);
  EXPECT_EQ(r.v.var, (nd * nd - 1) / 12);
  EXPECT_EQ(r.v.mean, (nd + 1) / 2);
  EXPECT_EQ(r.v.sum, nd * (nd + 1) / 2);
  EXPECT_EQ(r.v.std, std::sqrt((nd * nd - 1) / 12));  // sqrt is correctly rounded too
  EXPECT_EQ(r.v.max, nd);
}

// --- the workload and its inputs -----------------------------------------------------------------

reduce_result run_workload(const reduce_options& o, const char* b = "seq") {
  const auto w = make_reduce_workload(o);
  tt::backend_context ctx(*parse_backend(b), 2);
  w->prepare(*ctx);
  auto r = w->run(*ctx);
  w->release(*ctx);
  return dynamic_cast<typed_result<reduce_result>&>(*r).value;
}

TEST(reduce_inputs, npy_and_raw_files_give_the_in_memory_answer) {
  tt::temp_dir dir;
  const std::vector<double> x = random_data(2 * chunk + 11, 21, 2.0);
  const std::vector<float> xf(x.begin(), x.end());
  const std::uint64_t n1[] = {x.size()};
  std::string npy = npy_header(npy_dtype::f64, n1);
  npy.append(reinterpret_cast<const char*>(x.data()), x.size() * 8);
  tt::write_file(dir / "x.npy", npy);
  tt::write_file(dir / "x.f32", std::string(reinterpret_cast<const char*>(xf.data()), xf.size() * 4));
  reduce_options o;
  o.op = reduce_op::all;
  o.input = dir / "x.npy";
  const nlohmann::json from_npy = result_json(run_workload(o));
  EXPECT_EQ(from_npy, result_json(run_seq(shared_array(x).in, reduce_op::all)));
  o.input = dir / "x.f32";
  o.dtype = reduce_dtype::f32;
  const reduce_result raw = run_workload(o, "procs");
  EXPECT_EQ(result_json(raw), result_json(run_seq(shared_array(xf).in, reduce_op::all)));
  EXPECT_EQ(raw.n, x.size());
}

TEST(reduce_inputs, malformed_files_are_one_line_usage_errors) {
  tt::temp_dir dir;
  reduce_options o;
  auto expect_usage = [&](const std::string& path, const char* needle) {
    o.input = path;
    try {
      make_reduce_workload(o);
      ADD_FAILURE() << path << " was accepted";
    } catch (const usage_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(needle), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  expect_usage(dir / "missing.npy", "missing.npy");
  tt::write_file(dir / "odd.raw", std::string(12, '\0'));
  o.dtype = reduce_dtype::f64;
  expect_usage(dir / "odd.raw", "not a whole number");
  const std::uint64_t shape[] = {100};
  std::string trunc = npy_header(npy_dtype::f64, shape) + std::string(80, '\0');
  tt::write_file(dir / "short.npy", trunc);
  expect_usage(dir / "short.npy", "short.npy");
  std::string ints = npy_header(npy_dtype::i32, shape) + std::string(400, '\0');
  tt::write_file(dir / "ints.npy", ints);
  expect_usage(dir / "ints.npy", "float32");
  // A .npy names its own dtype: one the caller states is checked against it, never applied.
  tt::write_file(dir / "f32.npy", npy_header(npy_dtype::f32, shape) + std::string(400, '\0'));
  o.dtype = reduce_dtype::f64;
  o.dtype_stated = true;
  expect_usage(dir / "f32.npy", "holds <f4 values");
  o.dtype = reduce_dtype::f32;
  o.input = dir / "f32.npy";
  EXPECT_NO_THROW(make_reduce_workload(o));
  o.dtype_stated = false;
  o.dtype = reduce_dtype::f64;
  EXPECT_NO_THROW(make_reduce_workload(o));  // unstated: the file's
  o.input.clear();
  o.n = reduce_max_generated + 1;
  EXPECT_THROW(make_reduce_workload(o), usage_error);
  // 2^34 doubles (128 GiB) exceed 3/4 of any machine these tests run on: refused before any memory.
  o.n = reduce_max_generated;
  expect_usage("", "more than 3/4");
}

TEST(reduce_inputs, generated_arrays_are_the_same_on_every_backend) {
  reduce_options o;
  o.op = reduce_op::all;
  o.n = 9 * chunk + 3;
  for (auto dist : {kernels::reduce_dist::uniform, kernels::reduce_dist::normal})
    for (auto t : {reduce_dtype::f32, reduce_dtype::f64}) {
      o.dist = dist;
      o.dtype = t;
      const reduce_result r = run_workload(o, "seq");
      if (dist == kernels::reduce_dist::uniform) {
        EXPECT_NEAR(r.v.mean, 0.5, 0.01);
        EXPECT_GE(r.v.min, 0.0);
        EXPECT_LT(r.v.max, 1.0);
      } else {
        EXPECT_NEAR(r.v.mean, 0.0, 0.01);
        EXPECT_NEAR(r.v.std, 1.0, 0.01);
      }
      for (const char* b : {"threads", "procs", "gpu"}) {
        if (!backend_availability(*parse_backend(b)).available) continue;
        EXPECT_EQ(result_json(run_workload(o, b)), result_json(r)) << b;
      }
    }
}

// The GPU engine's two paths on the emulated device (or a real one): data on the device, and data
// streamed in batches of one and three chunks (batches end inside the span and at its end).
TEST(reduce_gpu, resident_and_streamed_give_the_cpu_partials) {
  TANDEM_SKIP_UNLESS_AVAILABLE(backend::gpu);
  const std::vector<double> x = random_data(7 * chunk + 123, 31, -4.0);
  const std::vector<float> xf(x.begin(), x.end());
  auto ctx = gpu::context::open();
  for (const shared_array* a : {new shared_array(x), new shared_array(xf)}) {
    const std::size_t chunks = (a->in.n + chunk - 1) / chunk;
    for (std::uint32_t pass : every_pass) {
      std::vector<reduce_partial> want(chunks);
      for (std::size_t c = 0; c < chunks; ++c) {
        const std::size_t b = c * chunk, n = std::min<std::size_t>(chunk, a->in.n - b);
        want[c] = a->in.dtype == reduce_dtype::f32
                      ? scalar_partial(pass, static_cast<const float*>(a->in.data) + b, n)
                      : scalar_partial(pass, static_cast<const double*>(a->in.data) + b, n);
      }
      for (std::uint64_t batch : {std::uint64_t{0}, chunk, 3 * chunk}) {
        detail::reduce_gpu engine(*ctx, a->in, batch == 0 ? 0 : 1, batch);
        EXPECT_EQ(engine.resident(), batch == 0);
        std::vector<reduce_partial> got(chunks);
        engine.partials(pass, {0, chunks}, got.data());
        for (std::size_t c = 0; c < chunks; ++c) EXPECT_TRUE(same_bits(got[c], want[c])) << "chunk " << c << " batch " << batch;
        // A span that starts inside the data.
        engine.partials(pass, {2, chunks}, got.data());
        for (std::size_t c = 2; c < chunks; ++c) EXPECT_TRUE(same_bits(got[c - 2], want[c])) << "offset chunk " << c;
      }
    }
    delete a;
  }
}

}  // namespace
