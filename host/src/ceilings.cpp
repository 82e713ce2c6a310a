#include "tandem/ceilings.hpp"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TANDEM_CEILINGS_X86 1
#else
#define TANDEM_CEILINGS_X86 0
#endif

#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/machine.hpp"

namespace tandem {

namespace ceilings_detail {

namespace {

constexpr unsigned chains = fma_chains;

// Each value of the recurrence is a dependency chain of fma latency; 12 chains of vectors keep two
// FMA pipes of latency 4 to 5 busy (Zen 4/5, Skylake-X: 8 needed; Haswell: 10) and, with the two
// constants, fit AVX2's 16 registers without spilling.
static_assert(chains == 12);

template <class T>
T start(unsigned v) noexcept {
  if constexpr (sizeof(T) == 8) return fma_start_f64(v);
  else return fma_start_f32(v);
}

template <class T>
double scalar_loop(std::uint64_t iterations, T* out) {
  // A plain multiply and add (the build keeps them unfused, -ffp-contract=off): the path for CPUs
  // without FMA, portable to any compiler target.
  T acc[chains];
  for (unsigned c = 0; c < chains; ++c) acc[c] = start<T>(c);
  const T a = sizeof(T) == 8 ? T(fma_a_f64) : T(fma_a_f32), b = sizeof(T) == 8 ? T(fma_b_f64) : T(fma_b_f32);
  for (std::uint64_t it = 0; it < iterations; ++it)
    for (unsigned c = 0; c < chains; ++c) acc[c] = acc[c] * a + b;
  std::memcpy(out, acc, sizeof acc);
  return double(iterations) * chains * 2;
}

#if TANDEM_CEILINGS_X86
__attribute__((target("avx512f"))) double avx512_f64(std::uint64_t iterations, double* out) {
  __m512d acc[chains];
  for (unsigned c = 0; c < chains; ++c) {
    alignas(64) double s[8];
    for (unsigned l = 0; l < 8; ++l) s[l] = fma_start_f64(c * 8 + l);
    acc[c] = _mm512_load_pd(s);
  }
  const __m512d a = _mm512_set1_pd(fma_a_f64), b = _mm512_set1_pd(fma_b_f64);
  for (std::uint64_t it = 0; it < iterations; ++it)
    for (unsigned c = 0; c < chains; ++c) acc[c] = _mm512_fmadd_pd(acc[c], a, b);
  for (unsigned c = 0; c < chains; ++c) _mm512_storeu_pd(out + c * 8, acc[c]);
  return double(iterations) * chains * 8 * 2;
}
__attribute__((target("avx512f"))) double avx512_f32(std::uint64_t iterations, float* out) {
  __m512 acc[chains];
  for (unsigned c = 0; c < chains; ++c) {
    alignas(64) float s[16];
    for (unsigned l = 0; l < 16; ++l) s[l] = fma_start_f32(c * 16 + l);
    acc[c] = _mm512_load_ps(s);
  }
  const __m512 a = _mm512_set1_ps(fma_a_f32), b = _mm512_set1_ps(fma_b_f32);
  for (std::uint64_t it = 0; it < iterations; ++it)
    for (unsigned c = 0; c < chains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  for (unsigned c = 0; c < chains; ++c) _mm512_storeu_ps(out + c * 16, acc[c]);
  return double(iterations) * chains * 16 * 2;
}
__attribute__((target("avx2,fma"))) double avx2_f64(std::uint64_t iterations, double* out) {
  __m256d acc[chains];
  for (unsigned c = 0; c < chains; ++c) {
    alignas(32) double s[4];
    for (unsigned l = 0; l < 4; ++l) s[l] = fma_start_f64(c * 4 + l);
    acc[c] = _mm256_load_pd(s);
  }
  const __m256d a = _mm256_set1_pd(fma_a_f64), b = _mm256_set1_pd(fma_b_f64);
  for (std::uint64_t it = 0; it < iterations; ++it)
    for (unsigned c = 0; c < chains; ++c) acc[c] = _mm256_fmadd_pd(acc[c], a, b);
  for (unsigned c = 0; c < chains; ++c) _mm256_storeu_pd(out + c * 4, acc[c]);
  return double(iterations) * chains * 4 * 2;
}
__attribute__((target("avx2,fma"))) double avx2_f32(std::uint64_t iterations, float* out) {
  __m256 acc[chains];
  for (unsigned c = 0; c < chains; ++c) {
    alignas(32) float s[8];
    for (unsigned l = 0; l < 8; ++l) s[l] = fma_start_f32(c * 8 + l);
    acc[c] = _mm256_load_ps(s);
  }
  const __m256 a = _mm256_set1_ps(fma_a_f32), b = _mm256_set1_ps(fma_b_f32);
  for (std::uint64_t it = 0; it < iterations; ++it)
    for (unsigned c = 0; c < chains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  for (unsigned c = 0; c < chains; ++c) _mm256_storeu_ps(out + c * 8, acc[c]);
  return double(iterations) * chains * 8 * 2;
}
#endif

double thread_cpu_seconds() noexcept {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + double(t.tv_nsec) * 1e-9;
}

// One run of the loop on `threads` threads; returns flops per second (wall, or per thread CPU time
// summed over the threads).
double run_once(fma_path p, bool f32, unsigned threads, std::uint64_t iterations, bool cpu_time) {
  const std::size_t values = std::size_t(chains) * fma_lanes(p, f32);
  std::vector<double> flops(threads), cpu(threads);
  std::vector<std::vector<double>> out64(threads, std::vector<double>(f32 ? 0 : values));
  std::vector<std::vector<float>> out32(threads, std::vector<float>(f32 ? values : 0));
  auto body = [&](unsigned t) {
    const double c0 = thread_cpu_seconds();
    flops[t] = f32 ? fma_loop_f32(p, iterations, out32[t].data()) : fma_loop_f64(p, iterations, out64[t].data());
    cpu[t] = thread_cpu_seconds() - c0;
  };
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::vector<std::jthread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(body, t);
    body(0);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double total = 0, per_cpu = 0;
  for (unsigned t = 0; t < threads; ++t) {
    total += flops[t];
    per_cpu += cpu[t] > 0 ? flops[t] / cpu[t] : 0;
  }
  return cpu_time ? per_cpu : (wall > 0 ? total / wall : 0);
}

// Iterations for about `seconds` on one thread: doubled until a run takes 10 ms, then scaled.
std::uint64_t calibrate(fma_path p, bool f32, double seconds) {
  const std::size_t values = std::size_t(chains) * fma_lanes(p, f32);
  std::vector<double> o64(values);
  std::vector<float> o32(values);
  for (std::uint64_t it = 1024;; it *= 2) {
    const auto t0 = std::chrono::steady_clock::now();
    if (f32) fma_loop_f32(p, it, o32.data());
    else fma_loop_f64(p, it, o64.data());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s >= 0.01 || it >= (std::uint64_t{1} << 40))
      return std::max<std::uint64_t>(1, std::uint64_t(double(it) * std::max(seconds, 1e-3) / std::max(s, 1e-9)));
  }
}

struct word_buffer {
  std::uint64_t* data = nullptr;
  std::size_t bytes = 0;
  explicit word_buffer(std::size_t n) : bytes(((n * 8 + (std::size_t{2} << 20) - 1) >> 21) << 21) {
    // 2 MiB aligned and advised into huge pages, like the buffers the workloads generate their
    // inputs in (inherited_buffer), so the ceiling and the workloads pay the same TLB costs.
    data = static_cast<std::uint64_t*>(std::aligned_alloc(std::size_t{2} << 20, bytes));
    if (!data) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    madvise(data, bytes, MADV_HUGEPAGE);
#endif
  }
  ~word_buffer() { std::free(data); }
  word_buffer(const word_buffer&) = delete;
  word_buffer& operator=(const word_buffer&) = delete;
};

// Part t of n words cut into `parts` contiguous pieces on 8-word (cache line) boundaries.
std::pair<std::size_t, std::size_t> part(std::size_t n, unsigned t, unsigned parts) {
  const std::size_t lines = (n + 7) / 8;
  const std::size_t b = std::min(n, lines * t / parts * 8), e = std::min(n, lines * (t + 1) / parts * 8);
  return {b, e};
}

template <class F>
void on_threads(unsigned threads, F&& f) {
  std::vector<std::jthread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(f, t);
  f(0u);
}

}  // namespace

const char* name(fma_path p) noexcept {
  switch (p) {
    case fma_path::avx512: return "AVX-512";
    case fma_path::avx2: return "AVX2+FMA";
    case fma_path::scalar: return "scalar";
  }
  return "?";
}

std::vector<fma_path> fma_paths_here() {
  std::vector<fma_path> paths;
#if TANDEM_CEILINGS_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) paths.push_back(fma_path::avx512);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) paths.push_back(fma_path::avx2);
#endif
  paths.push_back(fma_path::scalar);
  return paths;
}

unsigned fma_lanes(fma_path p, bool f32) noexcept {
  const unsigned f64_lanes = p == fma_path::avx512 ? 8 : p == fma_path::avx2 ? 4 : 1;
  return p == fma_path::scalar ? 1 : f32 ? 2 * f64_lanes : f64_lanes;
}

double fma_start_f64(unsigned v) noexcept { return 1.0 + double(v) * 1e-3; }
float fma_start_f32(unsigned v) noexcept { return 1.0f + float(v) * 1e-3f; }

double fma_loop_f64(fma_path p, std::uint64_t iterations, double* out) {
#if TANDEM_CEILINGS_X86
  if (p == fma_path::avx512) return avx512_f64(iterations, out);
  if (p == fma_path::avx2) return avx2_f64(iterations, out);
#endif
  return scalar_loop(iterations, out);
}

double fma_loop_f32(fma_path p, std::uint64_t iterations, float* out) {
#if TANDEM_CEILINGS_X86
  if (p == fma_path::avx512) return avx512_f32(iterations, out);
  if (p == fma_path::avx2) return avx2_f32(iterations, out);
#endif
  return scalar_loop(iterations, out);
}

double fma_rate(fma_path p, bool f32, unsigned threads, double seconds, unsigned repeats, bool cpu_time) {
  threads = std::max(1u, threads);
  const std::uint64_t iterations = calibrate(p, f32, seconds);
  double best = 0;
  for (unsigned r = 0; r < std::max(1u, repeats); ++r) best = std::max(best, run_once(p, f32, threads, iterations, cpu_time));
  return best;
}

#if TANDEM_CEILINGS_X86
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
std::uint64_t read_words(
    const std::uint64_t* w, std::size_t n) noexcept {
  std::uint64_t s[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) s[j] += w[i + j];
  for (; i < n; ++i) s[0] += w[i];
  std::uint64_t t = 0;
  for (std::uint64_t v : s) t += v;
  return t;
}

std::uint64_t read_pass(const std::uint64_t* w, std::size_t n, unsigned threads, double* seconds) {
  threads = std::max(1u, threads);
  std::vector<std::uint64_t> sums(threads);
  const auto t0 = std::chrono::steady_clock::now();
  on_threads(threads, [&](unsigned t) {
    const auto [b, e] = part(n, t, threads);
    sums[t] = read_words(w + b, e - b);
  });
  if (seconds) *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::uint64_t total = 0;
  for (std::uint64_t s : sums) total += s;
  return total;
}

}  // namespace ceilings_detail

using namespace ceilings_detail;

fma_peak measure_fma_peak(unsigned threads, double seconds_per_measure) {
  fma_peak r;
  r.threads = std::max(1u, threads);
  const fma_path p = fma_paths_here().front();
  r.simd = name(p);
  const std::uint64_t it64 = calibrate(p, false, seconds_per_measure), it32 = calibrate(p, true, seconds_per_measure);
  // Alternating, so a burst of load elsewhere falls on both.
  for (int rep = 0; rep < 3; ++rep) {
    r.f64_gflops = std::max(r.f64_gflops, run_once(p, false, r.threads, it64, false) / 1e9);
    r.f32_gflops = std::max(r.f32_gflops, run_once(p, true, r.threads, it32, false) / 1e9);
  }
  return r;
}

double measure_read_bandwidth(unsigned threads, std::size_t bytes) {
  threads = std::max(1u, threads);
  if (bytes == 0) {
    std::size_t last = 0;
    int level = 0;
    for (const cache_level& c : cpu_caches())
      if (c.type != "Instruction" && c.level >= level) {
        level = c.level;
        last = c.bytes;
      }
    bytes = std::max(4 * last, std::size_t{256} << 20);
    if (const std::uint64_t mem = physical_memory_bytes(); mem > 0) bytes = std::min<std::size_t>(bytes, mem / 4);
  }
  const std::size_t n = std::max<std::size_t>(bytes / 8, 8);
  word_buffer buf(n);
  std::uint64_t* w = buf.data;
  // Touched by the threads that read it (first touch places the pages near them).
  on_threads(threads, [&](unsigned t) {
    const auto [b, e] = part(n, t, threads);
    for (std::size_t i = b; i < e; ++i) w[i] = i;
  });
  double best = 0;
  std::uint64_t sum = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double s = 0;
    sum += read_pass(w, n, threads, &s);
    if (s > 0) best = std::max(best, double(n) * 8 / s / 1e9);
  }
  // The sums are used, so no pass can be dropped; each must be n(n-1)/2 (wrapping arithmetic).
  const std::uint64_t un = n, expected = un % 2 == 0 ? un / 2 * (un - 1) : un * ((un - 1) / 2);
  if (sum != 5 * expected) throw std::logic_error("the read pass's sum is wrong: the measurement is not to be trusted");
  return best;
}

gpu_ceilings measure_gpu(gpu::context& ctx, std::size_t bytes) {
  gpu_ceilings g;
  g.device = ctx.device_name();
  g.emulated = ctx.emulated();
  const gpu::device_info& d = gpu::discover().devices.at(std::size_t(ctx.device()));
  if (d.memory_clock_khz > 0 && d.memory_bus_bits > 0) {
    // Double data rate: two transfers per clock (HBM and GDDR as the CUDA attributes report them).
    g.peak_gbs = double(d.memory_clock_khz) * 1e3 * double(d.memory_bus_bits) / 8 * 2 / 1e9;
  } else {
    g.peak_note = g.emulated ? "the emulated device has no memory clock or bus width"
                             : "the device reports no memory clock or bus width";
  }
  // Two device buffers and one pinned: at most a quarter of the device's memory between them.
  if (d.total_memory > 0) bytes = std::min(bytes, d.total_memory / 8);
  bytes = std::max<std::size_t>(bytes, 1 << 20);
  const gpu::stream_t s = ctx.stream(0);
  gpu::device_array<std::byte> a(ctx, bytes, s), b(ctx, bytes, s);
  gpu::pinned_array<std::byte> h(ctx, bytes);
  std::memset(h.data(), 1, bytes);
  ctx.fill_zero(a.data(), bytes, s);
  ctx.fill_zero(b.data(), bytes, s);
  ctx.synchronize(s);
  // Seconds of one operation: the best of 5 timings of `batch` queued back to back (a short
  // device-to-device copy is not much longer than the launch it is timed with).
  auto best = [&](auto&& op, int batch) {
    op();
    ctx.synchronize(s);
    double t = 0;
    for (int rep = 0; rep < 5; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < batch; ++i) op();
      ctx.synchronize(s);
      const double e = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / batch;
      t = rep == 0 ? e : std::min(t, e);
    }
    return t;
  };
  const double gb = double(bytes) / 1e9;
  const double h2d = best([&] { ctx.copy(a.data(), h.data(), bytes, gpu::copy_kind::host_to_device, s); }, 1);
  const double d2h = best([&] { ctx.copy(h.data(), a.data(), bytes, gpu::copy_kind::device_to_host, s); }, 1);
  const double d2d = best([&] { ctx.copy(b.data(), a.data(), bytes, gpu::copy_kind::device_to_device, s); }, 4);
  g.h2d_gbs = h2d > 0 ? gb / h2d : 0;
  g.d2h_gbs = d2h > 0 ? gb / d2h : 0;
  // Read and written: the traffic the peak counts (as CUDA's bandwidthTest reports it).
  g.d2d_gbs = d2d > 0 ? 2 * gb / d2d : 0;
  (void)ctx.take_transfer_stats();  // the measurement's own copies are no run's transfers
  return g;
}

nlohmann::json ceilings_json(const fma_peak& fma, double read_gbs, const gpu_ceilings* gpu) {
  nlohmann::json j = {{"fma_gflops", {{"f64", fma.f64_gflops}, {"f32", fma.f32_gflops}, {"simd", fma.simd},
                                      {"cores", fma.threads}}},
                      {"read_gbs", read_gbs},
                      {"gpu", nullptr}};
  if (gpu) {
    nlohmann::json g = {{"device", gpu->device},   {"peak_gbs", gpu->peak_gbs}, {"d2d_gbs", gpu->d2d_gbs},
                        {"h2d_gbs", gpu->h2d_gbs}, {"d2h_gbs", gpu->d2h_gbs}};
    if (!gpu->peak_note.empty()) g["peak_note"] = gpu->peak_note;
    if (gpu->emulated) g["emulated"] = true;
    j["gpu"] = std::move(g);
  }
  return j;
}

}  // namespace tandem
