// exact_add against a plain compensated sum over the same array, one thread: the cost of
// `--exact` over the default mode, on data larger than the caches (10^8 doubles: 800 MB).
//
//   build-bench/workloads/reduce/bench_exact [--n N] [google benchmark flags]
//
// Cases, interleaved per repetition so a noisy machine moves them alike:
//   read/<level>          sum with 4 independent vector accumulators: the read-bandwidth ceiling
//   compensated/<level>   TwoSum (Knuth) into 16 lanes: the default mode's kind of loop
//   exact_sum/<level>     exact_add, sum only
//   exact_sum_sq/<level>  exact_add with the squares (var / std)
//   ..._f32               the same on 10^8 floats
//   ..._wide              exponents spread over 2^-40 .. 2^40 instead of N(0, 1)
// GB/s are bytes of input read per second.
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tandem/workloads/exact_reduce.hpp"

namespace {

std::size_t g_n = 100'000'000;

// Doubles whose exponents spread uniformly over 2^-40 .. 2^40 (random signs and mantissas):
// every block needs three or four levels and its remainders tested.
const std::vector<double>& wide_data() {
  static const std::vector<double> x = [] {
    std::vector<double> v(g_n);
    std::mt19937_64 g(7);
    for (auto& e : v) {
      const std::uint64_t bits = (g() & ((std::uint64_t{1} << 52) - 1)) | ((983 + g() % 81) << 52) | (g() & (std::uint64_t{1} << 63));
      std::memcpy(&e, &bits, 8);
    }
    return v;
  }();
  return x;
}

template <class T>
const std::vector<T>& data() {
  static const std::vector<T> x = [] {
    std::vector<T> v(g_n);
    std::mt19937_64 g(42);
    std::normal_distribution<double> d(0.0, 1.0);
    for (auto& e : v) e = T(d(g));
    return v;
  }();
  return x;
}

// The eight lanes' sum, pairwise. GCC 12's _mm512_reduce_add_pd extracts with an undefined
// source and warns that it is used uninitialised.
__attribute__((target("avx512f"))) double lanes_sum(__m512d v) {
  alignas(64) double t[8];
  _mm512_store_pd(t, v);
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

__attribute__((target("avx512f"))) double read512(const double* x, std::size_t n) {
  __m512d a[4] = {_mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd(), _mm512_setzero_pd()};
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32)
    for (int u = 0; u < 4; ++u) a[u] = _mm512_add_pd(a[u], _mm512_loadu_pd(x + i + 8 * u));
  double s = lanes_sum(_mm512_add_pd(_mm512_add_pd(a[0], a[1]), _mm512_add_pd(a[2], a[3])));
  for (; i < n; ++i) s += x[i];
  return s;
}

// TwoSum into 16 lanes (two vectors of 8), then the lanes folded with their compensations.
__attribute__((target("avx512f"))) double compensated512(const double* x, std::size_t n) {
  __m512d s[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()}, c[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int u = 0; u < 2; ++u) {
      const __m512d v = _mm512_loadu_pd(x + i + 8 * u);
      const __m512d t = _mm512_add_pd(s[u], v);
      const __m512d bp = _mm512_sub_pd(t, s[u]);
      const __m512d err = _mm512_add_pd(_mm512_sub_pd(s[u], _mm512_sub_pd(t, bp)), _mm512_sub_pd(v, bp));
      c[u] = _mm512_add_pd(c[u], err);
      s[u] = t;
    }
  alignas(64) double ls[16], lc[16];
  _mm512_store_pd(ls, s[0]);
  _mm512_store_pd(ls + 8, s[1]);
  _mm512_store_pd(lc, c[0]);
  _mm512_store_pd(lc + 8, c[1]);
  double r = 0, rc = 0;
  for (int k = 0; k < 16; ++k) {
    r += ls[k];
    rc += lc[k];
  }
  for (; i < n; ++i) r += x[i];
  return r + rc;
}

__attribute__((target("avx2"))) double compensated256(const double* x, std::size_t n) {
  __m256d s[4], c[4];
  for (int u = 0; u < 4; ++u) s[u] = c[u] = _mm256_setzero_pd();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int u = 0; u < 4; ++u) {
      const __m256d v = _mm256_loadu_pd(x + i + 4 * u);
      const __m256d t = _mm256_add_pd(s[u], v);
      const __m256d bp = _mm256_sub_pd(t, s[u]);
      const __m256d err = _mm256_add_pd(_mm256_sub_pd(s[u], _mm256_sub_pd(t, bp)), _mm256_sub_pd(v, bp));
      c[u] = _mm256_add_pd(c[u], err);
      s[u] = t;
    }
  alignas(32) double ls[16], lc[16];
  for (int u = 0; u < 4; ++u) {
    _mm256_store_pd(ls + 4 * u, s[u]);
    _mm256_store_pd(lc + 4 * u, c[u]);
  }
  double r = 0, rc = 0;
  for (int k = 0; k < 16; ++k) {
    r += ls[k];
    rc += lc[k];
  }
  for (; i < n; ++i) r += x[i];
  return r + rc;
}

// The float peer: converted to double lanes, as a float compensated sum would be.
__attribute__((target("avx512f"))) double compensated512_f32(const float* x, std::size_t n) {
  __m512d s[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()}, c[2] = {_mm512_setzero_pd(), _mm512_setzero_pd()};
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int u = 0; u < 2; ++u) {
      const __m512d v = _mm512_maskz_cvtps_pd(0xFF, _mm256_loadu_ps(x + i + 8 * u));  // masked: as lanes_sum
      const __m512d t = _mm512_add_pd(s[u], v);
      const __m512d bp = _mm512_sub_pd(t, s[u]);
      const __m512d err = _mm512_add_pd(_mm512_sub_pd(s[u], _mm512_sub_pd(t, bp)), _mm512_sub_pd(v, bp));
      c[u] = _mm512_add_pd(c[u], err);
      s[u] = t;
    }
  double r = lanes_sum(_mm512_add_pd(s[0], s[1])) + lanes_sum(_mm512_add_pd(c[0], c[1]));
  for (; i < n; ++i) r += double(x[i]);
  return r;
}

void bytes(benchmark::State& st, std::size_t per_element) {
  st.SetBytesProcessed(std::int64_t(st.iterations()) * std::int64_t(g_n * per_element));
}

void BM_read_avx512(benchmark::State& st) {
  const auto& x = data<double>();
  for (auto _ : st) benchmark::DoNotOptimize(read512(x.data(), x.size()));
  bytes(st, 8);
}
void BM_compensated_avx512(benchmark::State& st) {
  const auto& x = data<double>();
  for (auto _ : st) benchmark::DoNotOptimize(compensated512(x.data(), x.size()));
  bytes(st, 8);
}
void BM_compensated_avx2(benchmark::State& st) {
  const auto& x = data<double>();
  for (auto _ : st) benchmark::DoNotOptimize(compensated256(x.data(), x.size()));
  bytes(st, 8);
}
void BM_compensated_f32_avx512(benchmark::State& st) {
  const auto& x = data<float>();
  for (auto _ : st) benchmark::DoNotOptimize(compensated512_f32(x.data(), x.size()));
  bytes(st, 4);
}

template <class T>
void exact_case(benchmark::State& st, tandem::exact_simd level, bool squares, bool wide = false) {
  if (tandem::exact_simd_force(level) != level) {
    st.SkipWithError("this CPU lacks the level");
    return;
  }
  const std::vector<T>* xp = nullptr;
  if constexpr (sizeof(T) == 8) xp = wide ? &wide_data() : &data<T>();
  else xp = &data<T>();
  const auto& x = *xp;
  tandem::kernels::exact_accumulator s;
  tandem::kernels::exact_square_accumulator q;
  for (auto _ : st) {
    s.clear();
    q.clear();
    tandem::exact_add(x.data(), x.size(), s, squares ? &q : nullptr);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(q);
  }
  bytes(st, sizeof(T));
  st.SetLabel(tandem::to_string(level));
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--n") == 0) {
      g_n = std::strtoull(argv[i + 1], nullptr, 10);
      for (int j = i; j + 2 <= argc; ++j) argv[j] = argv[j + 2];
      argc -= 2;
      break;
    }
  using tandem::exact_simd;
  auto reg = [](const char* name, auto fn) {
    return benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMillisecond)->UseRealTime();
  };
  // Interleaved: one round of every case per repetition.
  reg("read/avx512", BM_read_avx512);
  reg("compensated/avx512", BM_compensated_avx512);
  reg("exact_sum/avx512", [](benchmark::State& s) { exact_case<double>(s, exact_simd::avx512, false); });
  reg("compensated/avx2", BM_compensated_avx2);
  reg("exact_sum/avx2", [](benchmark::State& s) { exact_case<double>(s, exact_simd::avx2, false); });
  reg("exact_sum_sq/avx512", [](benchmark::State& s) { exact_case<double>(s, exact_simd::avx512, true); });
  reg("exact_sum_sq/avx2", [](benchmark::State& s) { exact_case<double>(s, exact_simd::avx2, true); });
  reg("compensated_f32/avx512", BM_compensated_f32_avx512);
  reg("exact_sum_f32/avx512", [](benchmark::State& s) { exact_case<float>(s, exact_simd::avx512, false); });
  reg("exact_sum_sq_f32/avx512", [](benchmark::State& s) { exact_case<float>(s, exact_simd::avx512, true); });
  reg("exact_sum_wide/avx512", [](benchmark::State& s) { exact_case<double>(s, exact_simd::avx512, false, true); });
  reg("exact_sum_sq_wide/avx512", [](benchmark::State& s) { exact_case<double>(s, exact_simd::avx512, true, true); });
  reg("exact_sum/scalar", [](benchmark::State& s) { exact_case<double>(s, exact_simd::scalar, false); });
  benchmark::Initialize(&argc, argv);
  std::printf("n = %zu, one thread; best SIMD level here: %s\n", g_n,
              tandem::to_string(tandem::exact_simd_force(exact_simd::avx512)));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
