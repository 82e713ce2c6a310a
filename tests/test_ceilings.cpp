// The measured ceilings: each FMA path this CPU has computes exactly the recurrence it claims (so
// a loop the compiler dropped, or a path that is not the one named, fails) at a positive rate; the
// read pass sums exactly what is in the buffer; the GPU ceilings run through any context (the
// emulated one here); and the machine header carries the git revision and the library versions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gpu_test.hpp"
#include "tandem/build_config.hpp"
#include "tandem/ceilings.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/machine.hpp"

namespace {

using namespace tandem;
using namespace tandem::ceilings_detail;

bool fused(fma_path p) { return p != fma_path::scalar; }

// The recurrence, one value at a time, in plain C++: std::fma rounds once, like the vector FMA.
template <class T>
std::vector<T> reference(fma_path p, std::uint64_t iterations, bool as_fused) {
  const unsigned values = fma_chains * fma_lanes(p, sizeof(T) == 4);
  const T a = sizeof(T) == 8 ? T(fma_a_f64) : T(fma_a_f32), b = sizeof(T) == 8 ? T(fma_b_f64) : T(fma_b_f32);
  std::vector<T> out(values);
  for (unsigned v = 0; v < values; ++v) {
    T x = sizeof(T) == 8 ? T(fma_start_f64(v)) : T(fma_start_f32(v));
    for (std::uint64_t i = 0; i < iterations; ++i) x = as_fused ? std::fma(x, a, b) : x * a + b;
    out[v] = x;
  }
  return out;
}

template <class T>
void check_path(fma_path p, std::uint64_t iterations) {
  const bool f32 = sizeof(T) == 4;
  const unsigned values = fma_chains * fma_lanes(p, f32);
  std::vector<T> got(values + 1, T(-7));  // one past the end: must stay untouched
  double flops = 0;
  if constexpr (sizeof(T) == 4) flops = fma_loop_f32(p, iterations, got.data());
  else flops = fma_loop_f64(p, iterations, got.data());
  EXPECT_EQ(flops, double(iterations) * values * 2) << name(p);
  EXPECT_EQ(got[values], T(-7)) << name(p) << ": wrote past its values";
  const std::vector<T> want = reference<T>(p, iterations, fused(p));
  for (unsigned v = 0; v < values; ++v)
    ASSERT_EQ(std::memcmp(&got[v], &want[v], sizeof(T)), 0)
        << name(p) << (f32 ? " f32" : " f64") << " value " << v << " after " << iterations << ": " << got[v]
        << " != " << want[v];
  if (iterations >= 7) {
    // The test can fail: most values moved from their start (a loop that was dropped would leave
    // them), and most differ between the two roundings, so a path that multiplied and added
    // instead of fusing (or the reverse) would have failed above.
    const std::vector<T> other = reference<T>(p, iterations, !fused(p));
    unsigned moved = 0, parted = 0;
    for (unsigned v = 0; v < values; ++v) {
      moved += want[v] != (f32 ? T(fma_start_f32(v)) : T(fma_start_f64(v)));
      parted += std::memcmp(&other[v], &want[v], sizeof(T)) != 0;
    }
    EXPECT_GT(moved, values / 2) << name(p);
    EXPECT_GE(parted, values / 4) << name(p);
  }
}

TEST(ceilings_fma, every_path_here_computes_its_recurrence_exactly) {
  const std::vector<fma_path> paths = fma_paths_here();
  ASSERT_FALSE(paths.empty());
  EXPECT_EQ(paths.back(), fma_path::scalar) << "scalar is always there, last";
  for (fma_path p : paths) {
    for (std::uint64_t it : {0u, 1u, 7u, 1000u}) {
      check_path<double>(p, it);
      check_path<float>(p, it);
    }
  }
}

TEST(ceilings_fma, this_cpu_runs_its_widest_path) {
  const std::vector<fma_path> paths = fma_paths_here();
  if (describe_machine().simd == "AVX-512") {
    EXPECT_EQ(paths.front(), fma_path::avx512);
  }
  const fma_peak peak = measure_fma_peak(1, 0.02);
  EXPECT_EQ(peak.simd, name(paths.front()));
  EXPECT_EQ(peak.threads, 1u);
  EXPECT_GT(peak.f64_gflops, 0);
  EXPECT_GT(peak.f32_gflops, 0);
  EXPECT_TRUE(std::isfinite(peak.f64_gflops) && std::isfinite(peak.f32_gflops));
  EXPECT_EQ(measure_fma_peak(0, 0.01).threads, 1u) << "at least one thread";
}

TEST(ceilings_fma, every_path_has_a_positive_rate) {
  for (fma_path p : fma_paths_here())
    for (bool f32 : {false, true}) {
      const double r = fma_rate(p, f32, 2, 0.01, 1);
      EXPECT_GT(r, 0) << name(p);
      EXPECT_TRUE(std::isfinite(r)) << name(p);
    }
}

// Twice the lanes at the same instruction rate. Rates per second of the thread's own CPU time, the
// best of 5 alternating runs: a busy machine takes time slices from the thread, which this does
// not count, and moves both types alike. 1.2 leaves room below the expected 2.
TEST(ceilings_fma, f32_runs_more_flops_than_f64_on_a_simd_path) {
  bool any = false;
  for (fma_path p : fma_paths_here()) {
    if (p == fma_path::scalar) continue;
    any = true;
    double f64 = 0, f32 = 0;
    for (int rep = 0; rep < 5; ++rep) {
      f64 = std::max(f64, fma_rate(p, false, 1, 0.03, 1, true));
      f32 = std::max(f32, fma_rate(p, true, 1, 0.03, 1, true));
    }
    EXPECT_GE(f32, 1.2 * f64) << name(p) << ": f32 " << f32 / 1e9 << " GFLOP/s, f64 " << f64 / 1e9;
  }
  if (!any) GTEST_SKIP() << "no SIMD FMA path on this CPU (scalar only)";
}

// ---- the read pass ---------------------------------------------------------------------------

std::vector<std::uint64_t> words(std::size_t n) {
  std::vector<std::uint64_t> w(n);
  std::uint64_t x = 0x9e3779b97f4a7c15u;
  for (auto& v : w) {  // splitmix64: large values, so the sum wraps
    x += 0x9e3779b97f4a7c15u;
    std::uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    v = z ^ (z >> 31);
  }
  return w;
}

TEST(ceilings_read, the_pass_sums_every_word_once) {
  const std::vector<std::uint64_t> all = words((std::size_t{1} << 20) + 3);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9},
                        std::size_t{15}, std::size_t{16}, std::size_t{17}, std::size_t{1009}, all.size() - 1}) {
    for (std::size_t offset : {std::size_t{0}, std::size_t{1}}) {  // aligned and not
      const std::uint64_t* w = all.data() + offset;
      std::uint64_t want = 0;
      for (std::size_t i = 0; i < n; ++i) want += w[i];
      EXPECT_EQ(read_words(w, n), want) << "n " << n << " offset " << offset;
      for (unsigned threads : {1u, 2u, 3u, 5u, 16u})  // more threads than cache lines, for small n
        EXPECT_EQ(read_pass(w, n, threads), want) << "n " << n << " threads " << threads;
    }
  }
}

TEST(ceilings_read, bandwidth_is_positive) {
  const double small = measure_read_bandwidth(2, std::size_t{32} << 20);
  EXPECT_GT(small, 0);
  EXPECT_TRUE(std::isfinite(small));
  const double dflt = measure_read_bandwidth(1);  // four times the last-level cache, >= 256 MiB
  EXPECT_GT(dflt, 0);
  EXPECT_TRUE(std::isfinite(dflt));
}

// ---- the GPU's -------------------------------------------------------------------------------

TEST(ceilings_gpu, measured_through_the_context) {
  TANDEM_SKIP_WITHOUT_GPU();
  auto ctx = gpu::context::open();
  const gpu_ceilings g = measure_gpu(*ctx, std::size_t{8} << 20);
  EXPECT_EQ(g.device, ctx->device_name());
  EXPECT_EQ(g.emulated, ctx->emulated());
  EXPECT_EQ(g.emulated, TANDEM_WITH_GPU_EMULATION != 0);
  for (double r : {g.d2d_gbs, g.h2d_gbs, g.d2h_gbs}) {
    EXPECT_GT(r, 0);
    EXPECT_TRUE(std::isfinite(r));
  }
  if (g.emulated) {
    EXPECT_EQ(g.peak_gbs, 0) << "the host has no device memory clock";
    EXPECT_FALSE(g.peak_note.empty());
  } else {
    EXPECT_EQ(g.peak_gbs > 0, g.peak_note.empty());
  }
  const gpu::transfer_stats left = ctx->take_transfer_stats();
  EXPECT_EQ(left.copies, 0u) << "the measurement's copies are not left for a run to be charged with";
  EXPECT_EQ(left.bytes, 0u);

  const nlohmann::json j = ceilings_json(fma_peak{10, 20, "AVX-512", 2}, 30, &g);
  EXPECT_EQ(j.at("gpu").at("device"), g.device);
  EXPECT_EQ(j.at("gpu").at("h2d_gbs").get<double>(), g.h2d_gbs);
  EXPECT_EQ(j.at("gpu").contains("emulated"), g.emulated);
  EXPECT_EQ(j.at("gpu").contains("peak_note"), !g.peak_note.empty());
}

TEST(ceilings_json, has_the_schema_keys) {
  const nlohmann::json j = ceilings_json(fma_peak{104.5, 208.25, "AVX-512", 2}, 31.5, nullptr);
  EXPECT_EQ(j.at("fma_gflops").at("f64").get<double>(), 104.5);
  EXPECT_EQ(j.at("fma_gflops").at("f32").get<double>(), 208.25);
  EXPECT_EQ(j.at("fma_gflops").at("simd"), "AVX-512");
  EXPECT_EQ(j.at("fma_gflops").at("cores").get<unsigned>(), 2u);
  EXPECT_EQ(j.at("read_gbs").get<double>(), 31.5);
  EXPECT_TRUE(j.at("gpu").is_null());
  gpu_ceilings g{"NVIDIA H100", 3350, "", 2900, 25.1, 26.0, false};
  const nlohmann::json k = ceilings_json(fma_peak{}, 0, &g);
  EXPECT_EQ(k.at("gpu").at("peak_gbs").get<double>(), 3350);
  EXPECT_EQ(k.at("gpu").at("d2d_gbs").get<double>(), 2900);
  EXPECT_EQ(k.at("gpu").at("d2h_gbs").get<double>(), 26.0);
  EXPECT_FALSE(k.at("gpu").contains("emulated"));
  EXPECT_FALSE(k.at("gpu").contains("peak_note"));
}

// ---- the machine header's build facts ---------------------------------------------------------

TEST(machine_build, carries_the_git_revision_and_library_versions) {
  const machine_info m = describe_machine();
  const nlohmann::json b = to_json(m).at("build");
  const std::string rev = b.at("git_revision").get<std::string>();
  EXPECT_TRUE(std::regex_match(rev, std::regex("[0-9a-f]{4,40}(-dirty)?|unknown"))) << rev;
  const nlohmann::json& libs = b.at("libraries");
  ASSERT_TRUE(libs.is_object());
  ASSERT_TRUE(libs.contains("OpenBLAS")) << libs.dump();
  EXPECT_TRUE(std::regex_search(libs.at("OpenBLAS").get<std::string>(), std::regex("^[0-9]+\\.[0-9]+")))
      << libs.at("OpenBLAS");
  EXPECT_EQ(libs.at("nlohmann_json"), std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                          std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                          std::to_string(NLOHMANN_JSON_VERSION_PATCH));
  EXPECT_EQ(libs.at("C++ compiler"), m.build.cxx_compiler);
  EXPECT_EQ(libs.contains("MPI"), TANDEM_WITH_MPI != 0) << libs.dump();
  if (libs.contains("MPI")) {
    EXPECT_FALSE(libs.at("MPI").get<std::string>().empty());
    EXPECT_EQ(libs.at("MPI").get<std::string>().find('\n'), std::string::npos) << "first line only";
  }
  for (const char* cuda_only : {"CUDA runtime", "CUDA driver", "cuBLAS"})
    EXPECT_EQ(libs.contains(cuda_only), TANDEM_WITH_CUDA != 0) << cuda_only;
  EXPECT_EQ(libs.size(), m.build.libraries.size());

  std::ostringstream text;
  print_machine(text, m);
  EXPECT_NE(text.str().find("(git " + rev + ")"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("Libs:   OpenBLAS"), std::string::npos) << text.str();
  for (const auto& [name, version] : m.build.libraries)
    EXPECT_NE(text.str().find(name + ":"), std::string::npos) << name;
  EXPECT_TRUE(this_build().libraries.empty()) << "this_build (--version) loads no library";
}

}  // namespace
