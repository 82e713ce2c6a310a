// This machine's measured ceilings: what a workload's throughput is a fraction of in a report.
//   - the FMA peak: a loop of independent fused multiply-adds on every given thread, float64 and
//     float32 each measured (a CPU may not run twice the float32 lanes at the same rate);
//   - the read bandwidth: a plain pass over a buffer larger than the caches (integer adds, so no
//     floating-point latency hides the memory);
//   - the GPU's: its peak memory bandwidth from the device's attributes, a device-to-device copy,
//     and pinned host-to-device and device-to-host copies, all through gpu::context so that the
//     emulated context of a test build runs the same code.
// Each is the best of a few measurements: on a shared machine the best is the least disturbed.
// docs/gpu.md ("Ceilings") says what each number counts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem {

namespace gpu {
class context;
}

struct fma_peak {
  double f64_gflops = 0, f32_gflops = 0;
  std::string simd;  // the loop that ran: "AVX-512", "AVX2+FMA" or "scalar"
  unsigned threads = 0;
};

// GFLOP/s of the FMA loop on `threads` threads at once (>= 1), with the widest path this CPU has;
// each figure is the best of 3 timed runs of about `seconds_per_measure`, f64 and f32 alternating.
fma_peak measure_fma_peak(unsigned threads, double seconds_per_measure = 0.1);

// GB/s (10^9 bytes) of `threads` threads reading one buffer of `bytes` (0: four times the
// last-level cache, at least 256 MiB, at most a quarter of physical memory), each thread its own
// contiguous part. The buffer is written (touched) before timing; the best of 5 passes.
double measure_read_bandwidth(unsigned threads, std::size_t bytes = 0);

struct gpu_ceilings {
  std::string device;
  double peak_gbs = 0;  // memory clock x bus width x 2 (double data rate) / 8; 0 when unknown
  std::string peak_note;  // why peak_gbs is 0, when it is
  double d2d_gbs = 0;   // a device-to-device copy, bytes read plus bytes written per second
  double h2d_gbs = 0, d2h_gbs = 0;  // pinned host memory to the device and back
  bool emulated = false;  // measured on the host emulation of a test build: not a GPU's figures
};

// Copies of `bytes` (256 MiB by default, at most an eighth of the device's memory; a test passes
// less), each rate the best of 5, timed by the host clock around synchronised batches. Leaves the
// context's transfer accounting empty (take_transfer_stats), so no run is charged with its copies:
// call it between runs.
gpu_ceilings measure_gpu(gpu::context& ctx, std::size_t bytes = std::size_t{256} << 20);

// The report's "ceilings" object: fma_gflops {f64, f32, simd, cores}, read_gbs, and gpu (null
// when there is none, else {device, peak_gbs, d2d_gbs, h2d_gbs, d2h_gbs}, with "peak_note" when
// the peak is unknown and "emulated": true in an emulation build).
nlohmann::json ceilings_json(const fma_peak& fma, double read_gbs, const gpu_ceilings* gpu);

namespace ceilings_detail {

// The FMA loop's paths, exposed so tests can run each one this CPU has and check its arithmetic.
enum class fma_path { scalar, avx2, avx512 };
const char* name(fma_path p) noexcept;
// The paths this CPU can run, widest first (scalar is always there).
std::vector<fma_path> fma_paths_here();
// The loop's independent chains, each a vector of fma_lanes(p, f32) values.
constexpr unsigned fma_chains = 12;
unsigned fma_lanes(fma_path p, bool f32) noexcept;

// The recurrence x <- x * a + b (one rounding where the path is fused: avx2, avx512; two for
// scalar, which is a plain multiply and add), `iterations` times on every value. Value v (of
// fma_chains x lanes) starts at fma_start(v) = 1 + v / 1000; the final values are written to out (that many).
// Returns the flops done (2 per value per iteration).
// Fixed point 1, approached by a factor 0.999 a step: the values stay near 1 (never denormal, never
// overflowing, however long the loop runs), yet change at every step for a thousand steps, and the
// fused and unfused roundings part after one: a test can tell a dropped loop or the wrong path.
inline constexpr double fma_a_f64 = 0.999, fma_b_f64 = 0.001;
inline constexpr float fma_a_f32 = 0.999f, fma_b_f32 = 0.001f;
double fma_start_f64(unsigned v) noexcept;
float fma_start_f32(unsigned v) noexcept;
double fma_loop_f64(fma_path p, std::uint64_t iterations, double* out);
double fma_loop_f32(fma_path p, std::uint64_t iterations, float* out);

// FLOP/s of `threads` threads each running the path's loop for about `seconds`: best of `repeats`.
// cpu_time: rate per second of thread CPU time instead of wall time (the tests' f32-vs-f64
// comparison, which must not depend on what else the machine runs).
double fma_rate(fma_path p, bool f32, unsigned threads, double seconds, unsigned repeats, bool cpu_time = false);

// The read pass's kernel (bench_reduce uses it too): the wrapping sum of n 64-bit words, added
// with 8 independent sums and built for AVX-512, AVX2 or the baseline, whichever the CPU has.
std::uint64_t read_words(const std::uint64_t* w, std::size_t n) noexcept;
// The same sum with `threads` threads, each over its own contiguous part, and its wall seconds.
std::uint64_t read_pass(const std::uint64_t* w, std::size_t n, unsigned threads, double* seconds = nullptr);

}  // namespace ceilings_detail

}  // namespace tandem
