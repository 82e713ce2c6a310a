// The CPU's lanes for the default mode: the 32 lanes of kernels/reduce.hpp as 4 AVX-512, 8 AVX2
// or 16 SSE2 vectors (the x86-64 baseline, "scalar"), each level built here and chosen at run time. The
// vector width changes how many lanes one instruction covers, never an operation or its order, so
// every level gives the bits of kernels::chunk_partial_scalar (the tests check each level).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "reduce_cpu.hpp"
#include "tandem/errors.hpp"

namespace tandem::detail {

namespace {

using kernels::lane_state;
using kernels::reduce_lanes;
using kernels::reduce_partial;

// The 32 lanes' states as one array per field: the lane loop below is a plain loop over 32
// independent lanes, which GCC vectorises for the function's target (AVX-512: 4 registers per
// field; AVX2: 8; SSE2: 16). Generic vector types would not do: their compares are lowered to
// scalar code when the variables are declared outside a function built for the wider target.
struct lanes_soa {
  alignas(64) double s[reduce_lanes], sc[reduce_lanes], q[reduce_lanes], qc[reduce_lanes], t[reduce_lanes],
      tc[reduce_lanes], v[reduce_lanes], vc[reduce_lanes], mn[reduce_lanes], mx[reduce_lanes];
};

// Elements to prefetch ahead (8 KiB of doubles): measured on Zen 5 (AVX-512, 10^8 doubles, seq /
// threads x2): 256 ahead gave 16.6-22.1 / 24.9-26.2 GB/s, 1024 gave 23.1-24.0 / 32.1-39.7, 2048
// gave 20.6-21.4 / 29.1-29.8 (one prefetch per 32 elements then). Every cache line of the step is
// prefetched: one line in four (two in four for float) left Zen 3 (AVX2) slower than no software
// prefetch at all, seq sum 9.5-10.2 GB/s against 13.4-14.9, and 15.1-16.6 with every line; float
// sum on two threads 11.3-12.2, 17.1-17.4, 19.2-19.7 (512 and 2048 ahead: within the noise of 1024
// for double, 2048 slower for float).
constexpr std::uint64_t prefetch_distance = 1024;

// a - b on the multiply-add units: fma(b, -1, a) is a - b rounded once, the subtraction's bits.
// The FMA levels compute three of TwoSum's six additions so (and var's shift): x86 cores from Zen
// on issue additions to two pipes and multiply-adds to two others, and TwoSum's additions otherwise
// queue on the adders alone. `one` is hidden from the compiler, which would fold the product by 1
// back into a subtraction.
struct fma_sub {
  double one;
  [[gnu::always_inline]] double operator()(double a, double b) const { return __builtin_fma(b, -one, a); }
};

template <std::uint32_t Pass, bool Fma, class In>
[[gnu::always_inline]] inline reduce_partial lanes_chunk(const In* x, std::uint64_t n) {
  const double k = n > 0 ? double(x[0]) : 0.0;
  std::conditional_t<Fma, fma_sub, kernels::plain_sub> sub;
  if constexpr (Fma) {
    double one = 1.0;
    asm("" : "+x"(one));
    sub.one = one;
  }
  const std::uint64_t full = n - n % reduce_lanes;
  lanes_soa a;
  for (unsigned l = 0; l < reduce_lanes; ++l) {
    a.s[l] = a.sc[l] = a.q[l] = a.qc[l] = a.t[l] = a.tc[l] = a.v[l] = a.vc[l] = 0.0;
    a.mn[l] = __builtin_inf();
    a.mx[l] = -__builtin_inf();
  }
  for (std::uint64_t i = 0; i < full; i += reduce_lanes) {
    const In* xi = x + i;
    // The hardware prefetcher alone left a core well below the memory's speed; every line of
    // the step, the chunk's own bytes only, never past its end.
    if (i + prefetch_distance < full)
      for (unsigned b = 0; b < reduce_lanes * sizeof(In); b += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(xi + prefetch_distance) + b);
    for (unsigned l = 0; l < reduce_lanes; ++l)
      kernels::lane_step_fields<Pass>(a.s[l], a.sc[l], a.q[l], a.qc[l], a.t[l], a.tc[l], a.v[l], a.vc[l], a.mn[l],
                                      a.mx[l], double(xi[l]), k, sub);
  }
  lane_state<double> lanes[reduce_lanes];
  for (unsigned l = 0; l < reduce_lanes; ++l)
    lanes[l] = {a.s[l], a.sc[l], a.q[l], a.qc[l], a.t[l], a.tc[l], a.v[l], a.vc[l], a.mn[l], a.mx[l]};
  for (std::uint64_t i = full; i < n; ++i) kernels::lane_step<Pass>(lanes[i - full], double(x[i]), k);
  return kernels::partial_from_lanes(lanes, n, k);
}

// The passes an op asks for (reduce_passes in reduce.cpp): one instantiation each.
template <bool Fma, class In>
[[gnu::always_inline]] inline reduce_partial dispatch(const In* x, std::uint64_t n, std::uint32_t pass) {
  using namespace kernels;
  switch (pass) {
    case pass_sum: return lanes_chunk<pass_sum, Fma>(x, n);
    case pass_sumsq: return lanes_chunk<pass_sumsq, Fma>(x, n);
    case pass_minmax: return lanes_chunk<pass_minmax, Fma>(x, n);
    case pass_var: return lanes_chunk<pass_var, Fma>(x, n);
    default: return lanes_chunk<pass_sum | pass_sumsq | pass_var | pass_minmax, Fma>(x, n);
  }
}

#define TANDEM_REDUCE_LEVEL(NAME, ATTR, FMA)                                                   \
  ATTR reduce_partial NAME(const double* x, std::uint64_t n, std::uint32_t pass) {            \
    return dispatch<FMA>(x, n, pass);                                                          \
  }                                                                                            \
  ATTR reduce_partial NAME(const float* x, std::uint64_t n, std::uint32_t pass) { return dispatch<FMA>(x, n, pass); }

// The baseline: SSE2's two doubles per register, no FMA.
TANDEM_REDUCE_LEVEL(chunk_scalar, , false)
#if defined(__x86_64__) && defined(__GNUC__)
TANDEM_REDUCE_LEVEL(chunk_avx2, __attribute__((target("avx2,fma"))), true)
TANDEM_REDUCE_LEVEL(chunk_avx512, __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,prefer-vector-width=512"))), true)
#define TANDEM_REDUCE_X86 1
#else
#define TANDEM_REDUCE_X86 0
#endif

enum class level { scalar, avx2, avx512 };

bool cpu_has(level l) {
#if TANDEM_REDUCE_X86
  __builtin_cpu_init();
  if (l == level::avx512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
  if (l == level::avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return l == level::scalar;
}

level parse_level(std::string_view s, const char* where) {
  level l;
  if (s == "avx512") l = level::avx512;
  else if (s == "avx2") l = level::avx2;
  else if (s == "scalar") l = level::scalar;
  else throw usage_error(std::string(where) + ": '" + std::string(s) + "' is not a SIMD level (avx512, avx2 or scalar)");
  if (!cpu_has(l)) throw usage_error(std::string(where) + ": this CPU has no " + std::string(s));
  return l;
}

level automatic() {
  if (const char* v = std::getenv("TANDEM_REDUCE_SIMD"); v && *v) return parse_level(v, "TANDEM_REDUCE_SIMD");
  return cpu_has(level::avx512) ? level::avx512 : cpu_has(level::avx2) ? level::avx2 : level::scalar;
}

std::atomic<int> forced{-1};

level current() {
  const int f = forced.load(std::memory_order_relaxed);
  if (f >= 0) return level(f);
  static const level chosen = automatic();
  return chosen;
}

template <class In>
reduce_partial run_chunk(const In* x, std::uint64_t n, std::uint32_t pass) {
  switch (current()) {
#if TANDEM_REDUCE_X86
    case level::avx512: return chunk_avx512(x, n, pass);
    case level::avx2: return chunk_avx2(x, n, pass);
#endif
    default: return chunk_scalar(x, n, pass);
  }
}

}  // namespace

reduce_partial reduce_chunk(const double* x, std::uint64_t n, std::uint32_t pass) { return run_chunk(x, n, pass); }
reduce_partial reduce_chunk(const float* x, std::uint64_t n, std::uint32_t pass) { return run_chunk(x, n, pass); }

std::string_view reduce_simd_level() {
  switch (current()) {
    case level::avx512: return "avx512";
    case level::avx2: return "avx2";
    default: return "scalar";
  }
}

void force_reduce_simd(std::string_view s) {
  forced.store(s.empty() ? -1 : int(parse_level(s, "force_reduce_simd")), std::memory_order_relaxed);
}

}  // namespace tandem::detail
