// `tandem reduce`: its flags and its `tandem bench` entry.
#include <cstdint>
#include <cstdio>
#include <regex>
#include <string>

#include "cli.hpp"
#include "tandem/errors.hpp"
#include "tandem/workloads/count_matches.hpp"
#include "tandem/workloads/reduce.hpp"

namespace tandem::cli {

namespace {

workload_factory add_flags(CLI::App& cmd) {
  struct state {
    reduce_options o;
    std::string op = "sum", dtype = "f64", dist = "normal", pattern;
    bool pattern_given = false;
  };
  auto s = std::make_shared<state>();
  cmd.add_option("--op", s->op, "sum, mean, min, max, sumsq, var, std, all (every one, in one pass) or count-matches")
      ->check(non_empty())
      ->capture_default_str();
  cmd.add_option("--dtype", s->dtype, "f32 or f64: of the generated array, or of a raw --input file")
      ->check(non_empty())
      ->capture_default_str();
  cmd.add_option("-n,--n", s->o.n, "Generated elements when there is no --input (at most 2^34, and held in memory: at most 3/4 of it)")
      ->check(whole_number(0, reduce_max_generated))
      ->capture_default_str();
  cmd.add_option("--dist", s->dist, "Distribution of the generated array: uniform [0, 1) or normal")
      ->check(CLI::IsMember({"uniform", "normal"}))
      ->capture_default_str();
  cmd.add_option("-i,--input", s->o.input,
                 "Array file: .npy (float32/float64, any shape, read as flat) or raw little-endian values of --dtype; "
                 "for count-matches, the text file")
      ->check(non_empty());
  cmd.add_flag("--exact", s->o.exact,
               "Correctly rounded results, the same bits on every backend, worker count and chunking");
  cmd.add_option("--pattern", s->pattern, "count-matches: the literal to look for (no newline, at most 4096 bytes; '' matches every line)")
      ->each([s](const std::string&) { s->pattern_given = true; });
  return [s](const common_flags& f) -> std::unique_ptr<workload> {
    if (s->op == "count-matches") {
      if (!s->pattern_given) throw usage_error("reduce: --op count-matches needs --pattern");
      if (s->o.input.empty()) throw usage_error("reduce: --op count-matches needs --input FILE");
      if (s->o.exact) throw usage_error("reduce: --exact applies to numeric ops, not count-matches (a count is exact)");
      count_matches_options c;
      c.path = s->o.input;
      c.pattern = s->pattern;
      return make_count_matches_workload(c);
    }
    if (s->pattern_given) throw usage_error("reduce: --pattern applies to --op count-matches only");
    reduce_options o = s->o;
    o.op = parse_reduce_op(s->op);
    o.dtype = parse_reduce_dtype(s->dtype);
    o.dist = s->dist == "uniform" ? kernels::reduce_dist::uniform : kernels::reduce_dist::normal;
    o.seed = f.seed;
    return make_reduce_workload(o);
  };
}

void print_answer(const run_report& rr) {
  for (const run_record& rec : rr.records) {
    if (rec.skipped) continue;
    const nlohmann::json& j = rec.result;
    std::printf("  n = %s", j["n"].dump().c_str());
    for (const auto& [key, v] : j.items())
      if (key != "n" && key != "dtype" && key != "exact") std::printf(", %s = %s", key.c_str(), v.dump().c_str());
    std::printf("\n");
    return;
  }
}

// The built-in problem: the sum of 2^27 float64 (1 GiB; 2^20 with --quick), beside NumPy's sum of
// the same number of float64 in the same run.
bench_entry bench(bool quick) {
  reduce_options o;
  o.n = quick ? std::uint64_t{1} << 20 : std::uint64_t{1} << 27;
  o.dist = kernels::reduce_dist::uniform;
  const double bytes = double(o.n) * 8;
  return {make_reduce_workload(o), [bytes](const std::string& dir) {
            // "numpy sum float64 n=2^27: 21.3 GB/s"
            static const std::regex line(R"(numpy sum float64 n=2\^27: ([0-9.]+) GB/s)");
            std::vector<peer_record> r =
                run_python_peer(dir, "reduce", "numpy_numeric.py", {}, line, "NumPy", {"sum (float64)"});
            for (peer_record& p : r) p.time_s = p.time_s > 0 ? bytes / (p.time_s * 1e9) : 0;
            return r;
          }};
}

}  // namespace

const workload_command& reduce_command() {
  static const workload_command c{
      "reduce",
      "Reductions at memory speed: sum, mean, min, max, sumsq, var, std of f32/f64 arrays (--exact: correctly "
      "rounded), and counting lines that contain a literal",
      add_flags, bench, print_answer};
  return c;
}

}  // namespace tandem::cli
