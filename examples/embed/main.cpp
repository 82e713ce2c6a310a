// Embedding Tandem: define a chunk kernel, run it on the thread pool and on the reference
// executor, and get bitwise the same answer; then run a built-in workload.
#include <tandem/backend.hpp>
#include <tandem/executor.hpp>
#include <tandem/workloads/tasks.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>

// Sum of 1/(i+1)^2 over the items of a chunk: a float sum whose value depends on grouping, made
// reproducible by the fixed chunks.
struct basel_kernel {
  struct params_type {};
  using partial_type = double;
  static double run(const params_type&, tandem::chunk_range r) {
    double s = 0;
    for (std::size_t i = r.begin; i < r.end; ++i) s += 1.0 / (double(i + 1) * double(i + 1));
    return s;
  }
};

int main() {
  const tandem::chunk_plan plan(10'000'000, 65536);
  auto seq = tandem::make_executor("seq", 1);
  auto threads = tandem::make_executor("threads", tandem::default_workers("threads"));

  auto sum = [&](tandem::executor& ex) {
    double s = 0;
    for (double partial : tandem::run_chunks<basel_kernel>(ex, plan, {})) s += partial;  // chunk order
    return s;
  };
  const double a = sum(*seq), b = sum(*threads);
  std::printf("basel: seq %.17g, threads (%u workers) %.17g, pi^2/6 %.17g\n", a, threads->workers(), b,
              M_PI * M_PI / 6);

  const tandem::tasks_result t = tandem::run_tasks(*threads, {4, 1'000'000});
  std::printf("tasks: 4 x sum(i*i, i < 10^6) = %s\n", tandem::to_decimal(t.total).c_str());

  const bool same = std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
  const bool close = std::fabs(a - M_PI * M_PI / 6) < 1.1e-7;  // the tail after 10^7 terms is ~1e-7
  const bool exact = tandem::to_decimal(t.total) == "1333331333334000000";
  std::printf("%s\n", same && close && exact ? "embed: OK" : "embed: MISMATCH");
  return same && close && exact ? 0 : 1;
}
