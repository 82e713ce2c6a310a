// Reports: timing summaries, the JSON schema, and doubles that round-trip.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <limits>
#include <sstream>

#include "tandem/backend.hpp"
#include "tandem/report.hpp"
#include "tandem/runner.hpp"
#include "tandem/workloads/tasks.hpp"

namespace {

using namespace tandem;

TEST(report, summarize_takes_median_min_max) {
  const timing odd = summarize({3.0, 1.0, 2.0});
  EXPECT_EQ(odd.median, 2.0);
  EXPECT_EQ(odd.min, 1.0);
  EXPECT_EQ(odd.max, 3.0);
  EXPECT_EQ(odd.runs.size(), 3u);
  EXPECT_EQ(summarize({4.0, 1.0, 2.0, 3.0}).median, 2.5);
  EXPECT_EQ(summarize({}).runs.size(), 0u);
}

TEST(report, formats_units) {
  EXPECT_EQ(si_format(8.1e9), "8.10 G");
  EXPECT_EQ(si_format(12.0), "12.00 ");
  EXPECT_EQ(time_format(0.0123), "12.30 ms");
  EXPECT_EQ(time_format(2.5), "2.500 s");
  EXPECT_EQ(time_format(3e-6), "3.00 us");
}

TEST(report, doubles_round_trip_through_json) {
  for (double v : {0.1, 1.0 / 3.0, 2.0 / 3.0 * 1e-300, 6.02214076e23, std::numeric_limits<double>::denorm_min(),
                   std::numeric_limits<double>::max(), -0.0, 123456789.12345678}) {
    const std::string text = nlohmann::json(v).dump();
    const double back = nlohmann::json::parse(text).get<double>();
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back), std::bit_cast<std::uint64_t>(v)) << text;
  }
}

struct fixed_answer {
  double value = 1;
};
nlohmann::json result_json(const fixed_answer& a) { return {{"value", a.value}}; }

// Answers 1 everywhere (or 2 on threads, when told to disagree); counts prepare, run and release.
class fixed_workload final : public workload_of<fixed_answer> {
 public:
  std::string name() const override { return "fixed"; }
  nlohmann::json params() const override { return {{"k", 1}}; }
  work_amount work() const override { return {1000, "items/s"}; }
  tolerance agreement_tolerance() const override { return {relative, "test"}; }
  void prepare(run_context& ctx) override {
    ++prepares;
    EXPECT_EQ(ctx.cpu, nullptr) << "prepare runs before the executor exists (procs forks after it)";
  }
  fixed_answer compute(run_context& ctx) override {
    ++runs;
    EXPECT_TRUE(ctx.which == backend::gpu ? ctx.gpu != nullptr : ctx.cpu != nullptr);
    return {ctx.which == backend::threads && disagree ? 1 + offset : 1.0};
  }
  void release(run_context&) override { ++releases; }
  int runs = 0, prepares = 0, releases = 0;
  bool disagree = false;
  double offset = 1;
  double relative = 0;
};

TEST(report, json_document_follows_the_schema) {
  fixed_workload w;
  run_options o;
  o.backends = parse_backend_list("seq,threads,gpu");
  o.repeat = 3;
  o.warmup = 2;
  std::ostringstream notes;
  report r;
  r.runs.push_back(run_workload(w, o, notes));
  const int ran = backend_availability("gpu").available ? 3 : 2;
  EXPECT_EQ(w.runs, ran * 5);
  EXPECT_EQ(w.prepares, ran);
  EXPECT_EQ(w.releases, ran);
  const nlohmann::json j = report_json(describe_machine(), r);

  EXPECT_EQ(j.at("schema_version"), report_schema_version);
  for (const char* key : {"cpu", "os", "gpu", "build"}) EXPECT_TRUE(j.at("machine").contains(key)) << key;
  EXPECT_TRUE(j.at("machine").at("cpu").contains("logical_cores"));
  EXPECT_TRUE(j.at("agree").get<bool>());
  const auto& results = j.at("results");
  ASSERT_GE(results.size(), 2u);
  for (const auto& rec : results) {
    for (const char* key : {"workload", "backend", "workers", "params", "result", "time_s", "throughput"})
      ASSERT_TRUE(rec.contains(key)) << key;
    for (const char* key : {"median", "min", "max", "runs"}) ASSERT_TRUE(rec.at("time_s").contains(key)) << key;
    EXPECT_EQ(rec.at("time_s").at("runs"), 3);
    EXPECT_LE(rec.at("time_s").at("min").get<double>(), rec.at("time_s").at("median").get<double>());
    EXPECT_LE(rec.at("time_s").at("median").get<double>(), rec.at("time_s").at("max").get<double>());
    EXPECT_EQ(rec.at("throughput").at("unit"), "items/s");
    EXPECT_GT(rec.at("throughput").at("value").get<double>(), 0);
    EXPECT_TRUE(rec.contains("speedup_vs_seq"));
  }
  EXPECT_EQ(results[0].at("backend"), "seq");
  EXPECT_EQ(results[0].at("workers"), 1);
  if (!backend_availability("gpu").available) {
    ASSERT_EQ(j.at("skipped").size(), 1u);
    EXPECT_EQ(j.at("skipped")[0].at("backend"), "gpu");
  }
}

TEST(report, disagreement_is_reported) {
  fixed_workload w;
  w.disagree = true;
  run_options o;
  o.backends = parse_backend_list("seq,threads");
  o.repeat = 1;
  std::ostringstream notes;
  const run_report r = run_workload(w, o, notes);
  EXPECT_FALSE(r.agree);
  EXPECT_NE(r.disagreement.find("threads differs from seq (/value: 1.0 vs 2.0)"), std::string::npos)
      << r.disagreement;
}

// Bitwise by default: one unit in the last place is a disagreement; a workload's tolerance, when
// it states one, decides instead.
TEST(report, agreement_is_bitwise_unless_the_workload_says_otherwise) {
  fixed_workload w;
  w.disagree = true;
  w.offset = 0x1p-52;  // 1 + one ulp
  run_options o;
  o.backends = parse_backend_list("seq,threads");
  o.repeat = 1;
  std::ostringstream notes;
  EXPECT_FALSE(run_workload(w, o, notes).agree);
  w.relative = 1e-15;
  EXPECT_TRUE(run_workload(w, o, notes).agree);
  EXPECT_FALSE(compare_results({{"x", 0.0}}, {{"x", -0.0}}, {}).same) << "-0 and +0 are different bits";
  EXPECT_TRUE(compare_results({{"x", 0.0}}, {{"x", -0.0}}, {1e-12, "close"}).same);
  EXPECT_FALSE(compare_results({{"x", "a"}}, {{"x", "b"}}, {1e-3, "close"}).same) << "strings always exactly";
  EXPECT_FALSE(compare_results({{"x", 1}}, {{"y", 1}}, {}).same);
  EXPECT_EQ(compare_results({{"a", {1.0, 2.0}}}, {{"a", {1.0, 3.0}}}, {}).where, "/a/1: 2.0 vs 3.0");
}

// auto's rule: seq below the threads threshold, threads above it (with more than one core), the
// gpu only at or above its threshold and with a usable device; the reason names the numbers.
TEST(report, auto_decides_by_problem_size_and_says_why) {
  class sized final : public workload_of<fixed_answer> {
   public:
    explicit sized(double work) : work_(work) {}
    std::string name() const override { return "sized"; }
    nlohmann::json params() const override { return nullptr; }
    work_amount work() const override { return {work_, "items/s"}; }
    auto_thresholds thresholds() const override { return {1e3, 1e6}; }
    fixed_answer compute(run_context&) override { return {}; }
    double work_;
  };
  const bool many_cores = default_workers(backend::threads) > 1;
  const bool gpu = backend_availability(backend::gpu).available;
  const auto small = choose_auto(sized(10));
  EXPECT_EQ(small.chosen, backend::seq);
  EXPECT_NE(small.reason.find("→ seq"), std::string::npos) << small.reason;
  if (many_cores) {
    EXPECT_NE(small.reason.find("auto: 10 items per run < threads crossover 1e+03 (built-in default) → seq"),
              std::string::npos)
        << small.reason;
  }
  const auto mid = choose_auto(sized(1e4));
  EXPECT_EQ(mid.chosen, many_cores ? backend::threads : backend::seq) << mid.reason;
  if (many_cores) {
    EXPECT_NE(mid.reason.find("auto: 1e+04 items per run >= threads crossover 1e+03 (built-in default) → threads"),
              std::string::npos)
        << mid.reason;
  }
  const auto big = choose_auto(sized(1e7));
  EXPECT_EQ(big.chosen, gpu ? backend::gpu : many_cores ? backend::threads : backend::seq) << big.reason;
  if (!gpu) {
    EXPECT_NE(big.reason.find("gpu: no CUDA device"), std::string::npos) << big.reason;
  }
}

TEST(report, table_lists_backends_and_skips) {
  auto w = make_tasks_workload({2, 1000});
  run_options o;
  o.backends = parse_backend_list("seq,threads,gpu");
  o.repeat = 1;
  std::ostringstream notes, table;
  print_table(table, run_workload(*w, o, notes));
  const std::string t = table.str();
  EXPECT_NE(t.find("seq"), std::string::npos);
  EXPECT_NE(t.find("threads"), std::string::npos);
  EXPECT_NE(t.find("1.00x"), std::string::npos) << t;
  if (!backend_availability("gpu").available) {
    EXPECT_NE(t.find("skipped: no CUDA device"), std::string::npos) << t;
    EXPECT_NE(notes.str().find("skipping backend gpu"), std::string::npos);
  }
  EXPECT_NE(t.find("all backends agree"), std::string::npos) << t;
}

}  // namespace
