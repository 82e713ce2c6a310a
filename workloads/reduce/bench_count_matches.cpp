// count-matches against grep -c -F on a generated log, in one run (Google Benchmark).
//
//   bench_count_matches --make-log PATH LINES     writes the generated log and exits
//   bench_count_matches [--log PATH] [benchmark flags]
// Without --log it writes a 10^6-line log to a temporary file. The grep case runs
// `LC_ALL=C grep -c -F ERROR PATH` (a process per iteration, as a user runs it); the Tandem cases
// run the workload in-process on seq and on threads (2 workers), one mapping for all iterations.
// bytes/s is the file's size per iteration.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "tandem/backend.hpp"
#include "tandem/runner.hpp"
#include "tandem/workloads/count_matches.hpp"

namespace {

std::string log_path;
std::uint64_t log_bytes = 0;

void tandem_count(benchmark::State& state, tandem::backend b, unsigned workers) {
  tandem::count_matches_options o;
  o.path = log_path;
  o.pattern = "ERROR";
  auto w = tandem::make_count_matches_workload(o);
  auto ex = tandem::make_executor(b, workers);
  tandem::run_context ctx = tandem::cpu_context(*ex);
  std::uint64_t count = 0;
  for (auto _ : state) {
    auto r = w->run(ctx);
    count = static_cast<tandem::typed_result<tandem::count_matches_result>&>(*r).value.count;
  }
  state.counters["count"] = double(count);
  state.counters["simd"] = double(static_cast<int>(tandem::count_matches_simd_from_environment()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * log_bytes));
}

void grep_count(benchmark::State& state) {
  const std::string cmd = "LC_ALL=C grep -c -F ERROR '" + log_path + "'";
  unsigned long long count = 0;
  for (auto _ : state) {
    std::FILE* f = ::popen(cmd.c_str(), "r");
    if (!f || std::fscanf(f, "%llu", &count) != 1) {
      state.SkipWithError("grep did not run");
      if (f) ::pclose(f);
      return;
    }
    ::pclose(f);
  }
  state.counters["count"] = double(count);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * log_bytes));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--make-log") == 0) {
    const std::uint64_t bytes = tandem::write_count_matches_log(argv[2], std::strtoull(argv[3], nullptr, 10), 42);
    std::printf("%s: %llu bytes\n", argv[2], static_cast<unsigned long long>(bytes));
    return 0;
  }
  bool temporary = false;
  if (argc >= 3 && std::strcmp(argv[1], "--log") == 0) {
    log_path = argv[2];
    argv[2] = argv[0];
    argc -= 2;
    argv += 2;
  } else {
    log_path = (std::filesystem::temp_directory_path() / ("tandem_bench_cm_" + std::to_string(::getpid()))).string();
    tandem::write_count_matches_log(log_path, 1'000'000, 42);
    temporary = true;
  }
  log_bytes = std::filesystem::file_size(log_path);
  benchmark::RegisterBenchmark("grep_c_F_LC_ALL_C", grep_count)->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("tandem_seq", tandem_count, tandem::backend::seq, 1u)
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("tandem_threads_2", tandem_count, tandem::backend::threads, 2u)
      ->Unit(benchmark::kMillisecond)->UseRealTime();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (temporary) std::filesystem::remove(log_path);
  return 0;
}
