// `tandem gemm`: its flags, the answer in words, and its `tandem bench` entry.
#include <cstdint>
#include <cstdio>
#include <string>

#include "cli.hpp"
#include "tandem/workloads/gemm.hpp"

namespace tandem::cli {

namespace {

void print_answer(const run_report& rr) {
  for (const run_record& rec : rr.records) {
    if (rec.skipped) continue;
    const nlohmann::json& j = rec.result;
    std::printf("  %s: %.2f GFLOP/s", rec.backend.c_str(), rec.throughput / 1e9);
    if (j.contains("max_rel_error"))
      std::printf("; check: %llu entries, max relative error %.3g <= bound %.3g",
                  (unsigned long long)j["checked_entries"].get<std::uint64_t>(), j["max_rel_error"].get<double>(),
                  j["bound"].get<double>());
    std::printf("\n");
  }
  for (const run_record& rec : rr.records)
    if (!rec.skipped && rec.result.contains("dtype")) {
      const std::string t = rec.result["dtype"].get<std::string>();
      if (t == "tf32" || t == "bf16" || t == "f16")
        std::printf("  tensor cores: %s inputs, float accumulation and result%s\n", t.c_str(),
                    t == "tf32" ? "" : " (inputs rounded from float to nearest even on the host)");
      return;
    }
}

workload_factory add_flags(CLI::App& cmd) {
  struct state {
    gemm_options o;
    std::string gpu_mode = "auto";
  };
  auto s = std::make_shared<state>();
  gemm_options& o = s->o;
  const std::string limit = std::to_string(gemm_memory_limit() >> 20);
  CLI::Option* m = cmd.add_option("--m", o.m, "Rows of A and C (1 to 2^31-1)")->check(whole_number(1, gemm_max_dim))->capture_default_str();
  CLI::Option* n = cmd.add_option("--n", o.n, "Columns of B and C (1 to 2^31-1)")->check(whole_number(1, gemm_max_dim))->capture_default_str();
  CLI::Option* k = cmd.add_option("--k", o.k, "Columns of A, rows of B (1 to 2^31-1)")->check(whole_number(1, gemm_max_dim))->capture_default_str();
  cmd.add_option("--dtype", o.dtype,
                 "f32 or f64 (every backend); tf32, bf16, f16: GPU tensor cores, float data and result. Default: f64, "
                 "or the .npy files' dtype")
      ->check(CLI::IsMember({"f32", "f64", "tf32", "bf16", "f16"}));
  cmd.add_option("--alpha", o.alpha, "C = alpha A B + beta C")->check(finite_number())->capture_default_str();
  cmd.add_option("--beta", o.beta, "C = alpha A B + beta C (the initial C is generated from the seed)")
      ->check(finite_number())
      ->capture_default_str();
  cmd.add_option("--tile", o.tile,
                 "Tile of C per BLAS call (T x T); the same bits on every CPU backend and worker count for a given "
                 "tile. Default: C in about ceil(sqrt(cores))^2 tiles, at least 256")
      ->check(whole_number(1, gemm_max_dim));
  cmd.add_flag("--check", o.check,
               "Check C against a double-double reference (every entry up to 2^16, else 64 x 64 spread over C); a "
               "relative error above gamma_(k+2) fails the run (exit 1)");
  cmd.add_option("--a", o.a, "A from a .npy file (C order, float32 or float64, m x k); with --b")->type_name("FILE")->check(non_empty());
  cmd.add_option("--b", o.b, "B from a .npy file (k x n, the dtype of --a); with --a")->type_name("FILE")->check(non_empty());
  cmd.add_option("-p,--output", o.output, "Write C as .npy here (temporary name, then rename)")
      ->type_name("FILE")
      ->check(non_empty());
  cmd.add_option("--gpu-mode", s->gpu_mode,
                 "gpu: resident (A, B, C uploaded once, in the untimed set-up), streamed (panels through page-locked "
                 "memory on two streams every run), auto (resident when they fit)")
      ->check(CLI::IsMember({"auto", "resident", "streamed"}))
      ->capture_default_str();
  cmd.add_option("--gpu-memory", o.gpu_memory, "gpu: device bytes the schedule may use (0: 90% of what is free)")
      ->check(whole_number(0, std::uint64_t{1} << 50))
      ->capture_default_str();
  cmd.footer("Memory: A, B, C (and the initial C when beta != 0) must fit in 3/4 of this machine's memory (" + limit +
             " MiB here); a larger product is refused before any run.");
  return [s, m, n, k](const common_flags& flags) {
    if (!s->o.a.empty()) refuse_given("gemm", {m, n, k}, "sizes generated operands; with --a and --b their shapes do");
    s->o.seed = flags.seed;
    s->o.gpu_mode = s->gpu_mode == "resident"   ? gemm_gpu_mode::resident
                    : s->gpu_mode == "streamed" ? gemm_gpu_mode::streamed
                                                : gemm_gpu_mode::automatic;
    return make_gemm_workload(s->o);
  };
}

// Square float64 products C = A B, over n.
std::vector<bench_case> bench() {
  return {{"", "n", {64, 256}, {64, 256, 1000, 2000}, {64, 256, 1000, 2000, 4000},
           [](double size, std::uint64_t seed) {
             gemm_options o;
             o.m = o.n = o.k = std::uint64_t(size);
             o.seed = seed;
             return make_gemm_workload(o);
           }}};
}

}  // namespace

const workload_command& gemm_command() {
  static const workload_command c{"gemm",
                                  "Matrix multiply C = alpha A B + beta C: OpenBLAS tiles over threads/procs, cuBLAS on "
                                  "the GPU, with a checked result",
                                  add_flags, bench, print_answer};
  return c;
}

}  // namespace tandem::cli
