// `tandem reduce`: its flags and its `tandem bench` entry.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

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
  CLI::Option* dtype = cmd.add_option("--dtype", s->dtype, "f32 or f64: of the generated array, or of a raw --input file")
      ->check(non_empty())
      ->capture_default_str();
  CLI::Option* n = cmd.add_option("-n,--n", s->o.n, "Generated elements when there is no --input (at most 2^34, and held in memory: at most 3/4 of it)")
      ->check(whole_number(0, reduce_max_generated))
      ->capture_default_str();
  CLI::Option* dist = cmd.add_option("--dist", s->dist, "Distribution of the generated array: uniform [0, 1) or normal")
      ->check(CLI::IsMember({"uniform", "normal"}))
      ->capture_default_str();
  cmd.add_option("-i,--input", s->o.input,
                 "Array file: .npy (float32/float64, any shape, read as flat) or raw little-endian values of --dtype; "
                 "for count-matches, the text file")
      ->type_name("FILE")
      ->check(non_empty());
  cmd.add_flag("--exact", s->o.exact,
               "Correctly rounded results, the same bits on every backend, worker count and chunking");
  cmd.add_option("--pattern", s->pattern, "count-matches: the literal to look for (no newline, at most 4096 bytes; '' matches every line)")
      ->each([s](const std::string&) { s->pattern_given = true; });
  return [s, dtype, n, dist](const common_flags& f) -> std::unique_ptr<workload> {
    if (s->op == "count-matches") {
      refuse_given("reduce", {dtype, n, dist}, "applies to numeric ops, not count-matches");
      if (!s->pattern_given) throw usage_error("reduce: --op count-matches needs --pattern");
      if (s->o.input.empty()) throw usage_error("reduce: --op count-matches needs --input FILE");
      if (s->o.exact) throw usage_error("reduce: --exact applies to numeric ops, not count-matches (a count is exact)");
      count_matches_options c;
      c.path = s->o.input;
      c.pattern = s->pattern;
      return make_count_matches_workload(c);
    }
    if (s->pattern_given) throw usage_error("reduce: --pattern applies to --op count-matches only");
    if (!s->o.input.empty()) refuse_given("reduce", {n, dist}, "describes a generated array; with --input the file is the data");
    reduce_options o = s->o;
    o.op = parse_reduce_op(s->op);
    o.dtype = parse_reduce_dtype(s->dtype);
    o.dtype_stated = dtype->count() > 0;
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

// count-matches' bench input: a generated log in an unnamed file (O_TMPFILE), named to the peers
// and the workload as /proc/PID/fd/N, so nothing is left behind however tandem ends. The backends'
// workloads of one size share it.
class generated_log {
 public:
  generated_log(std::uint64_t lines, std::uint64_t seed) {
    const char* dir = std::getenv("TMPDIR");
    fd_ = ::open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd_ < 0)
      throw resource_error(std::string("cannot make the generated log for count-matches: ") + std::strerror(errno));
    path_ = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd_);
    write_count_matches_log(path_, lines, seed);
  }
  ~generated_log() { ::close(fd_); }
  generated_log(const generated_log&) = delete;
  generated_log& operator=(const generated_log&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// A workload that also keeps its input file alive.
class with_log final : public workload {
 public:
  with_log(std::unique_ptr<workload> w, std::shared_ptr<generated_log> log) : w_(std::move(w)), log_(std::move(log)) {}
  std::string name() const override { return w_->name(); }
  nlohmann::json params() const override { return w_->params(); }
  work_amount work() const override { return w_->work(); }
  backend_status supports(backend b) const override { return w_->supports(b); }
  auto_thresholds thresholds() const override { return w_->thresholds(); }
  tolerance agreement_tolerance() const override { return w_->agreement_tolerance(); }
  void prepare(run_context& ctx) override { w_->prepare(ctx); }
  std::unique_ptr<result> run(run_context& ctx) override { return w_->run(ctx); }
  void release(run_context& ctx) override { w_->release(ctx); }

 private:
  std::unique_ptr<workload> w_;
  std::shared_ptr<generated_log> log_;
};

// The sum of uniform float64 values (the bandwidth-bound case), over the element count; and the
// published Ray example's count of lines containing ERROR, over the lines of a generated log.
std::vector<bench_case> bench() {
  return {{"", "elements", {1 << 14, 1 << 20}, {1 << 14, 1 << 20, 1 << 26}, {1 << 14, 1 << 20, 1 << 26, 1 << 28},
           [](double size, std::uint64_t seed) {
             reduce_options o;
             o.n = std::uint64_t(size);
             o.dist = kernels::reduce_dist::uniform;
             o.seed = seed;
             return make_reduce_workload(o);
           }},
          {"count-matches", "lines", {1e4}, {1e4, 1e6}, {1e4, 1e6, 1e7}, [](double size, std::uint64_t seed) {
             // One log per size and seed while any backend's workload holds it.
             static std::weak_ptr<generated_log> last;
             static std::pair<double, std::uint64_t> last_key;
             std::shared_ptr<generated_log> log = last.lock();
             if (!log || last_key != std::make_pair(size, seed)) {
               log = std::make_shared<generated_log>(std::uint64_t(size), seed);
               last = log;
               last_key = {size, seed};
             }
             count_matches_options c;
             c.path = log->path();
             c.pattern = "ERROR";
             return std::make_unique<with_log>(make_count_matches_workload(c), log);
           }}};
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
