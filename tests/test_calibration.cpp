// Crossovers found in bench documents, the calibration file, and `auto` deciding by it.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tandem/backend.hpp"
#include "tandem/calibration.hpp"
#include "tandem/errors.hpp"
#include "tandem/machine.hpp"
#include "tandem/workload.hpp"
#include "temp_dir.hpp"

namespace {

using json = nlohmann::json;
using namespace tandem;
using tandem::testing::slurp;
using tandem::testing::temp_dir;
using tandem::testing::write_file;

// One result row as the bench engine writes it (only the fields crossovers read, plus the key).
json row(const std::string& workload, const std::string& kase, double size, const std::string& backend, double median,
         double per_run_factor = 1) {
  return {{"workload", workload},
          {"case", kase},
          {"size", size},
          {"size_unit", "rows"},
          {"backend", backend},
          {"requested_backend", backend},
          {"time_s", {{"median", median}, {"min", median}, {"max", median}}},
          {"work", {{"per_run", size * per_run_factor}, {"unit", "rows"}}}};
}

// A document with seq at 1 s per size and `backend` at the given ratios of it.
json ladder(const std::string& backend, const std::vector<double>& sizes, const std::vector<double>& ratios,
            double per_run_factor = 1) {
  json doc = {{"schema_version", 2}, {"results", json::array()}, {"skipped", json::array()}};
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    doc["results"].push_back(row("w", "", sizes[i], "seq", 1.0, per_run_factor));
    doc["results"].push_back(row("w", "", sizes[i], backend, ratios[i], per_run_factor));
  }
  return doc;
}

const json& entry(const json& crossovers, const std::string& backend) {
  for (const json& c : crossovers)
    if (c.at("backend") == backend) return c;
  throw std::runtime_error("no crossover for " + backend + " in " + crossovers.dump());
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(crossovers, faster_from_the_smallest_size) {
  const json c = find_crossovers(ladder("threads", {1e3, 1e4, 1e5}, {0.8, 0.6, 0.5}));
  ASSERT_EQ(c.size(), 1u) << c.dump();
  const json& t = c[0];
  EXPECT_EQ(t.at("workload"), "w");
  EXPECT_EQ(t.at("case"), "");
  EXPECT_EQ(t.at("versus"), "seq");
  EXPECT_EQ(t.at("work_per_run"), 1e3);
  EXPECT_EQ(t.at("size"), 1e3);
  EXPECT_TRUE(t.at("bracket").is_null());
  EXPECT_EQ(t.at("sizes_compared"), 3);
  EXPECT_TRUE(has(t.at("note"), "faster from the smallest size measured")) << t.dump();
}

TEST(crossovers, never_faster) {
  const json t = entry(find_crossovers(ladder("threads", {1e3, 1e4, 1e5}, {1.5, 1.2, 1.0})), "threads");
  EXPECT_TRUE(t.at("work_per_run").is_null());
  EXPECT_TRUE(t.at("size").is_null());
  EXPECT_TRUE(t.at("bracket").is_null());
  // A ratio of exactly 1 is not faster.
  EXPECT_TRUE(has(t.at("note"), "not faster at any size measured (up to 1e+05 rows)")) << t.dump();
}

TEST(crossovers, interpolated_log_log_between_the_last_loss_and_the_first_win) {
  // 4x seq's time at 10^4 rows, half at 10^6: log(ratio) falls from 2 ln 2 to -ln 2, crossing 0 two
  // thirds of the way in log(size): 10^(4 + 2/3 * 2) = 10^(16/3) rows. Work is 3 per row.
  const json t = entry(find_crossovers(ladder("procs", {1e4, 1e6}, {4.0, 0.5}, 3.0)), "procs");
  const double size = std::pow(10.0, 16.0 / 3);
  EXPECT_NEAR(t.at("size").get<double>(), size, size * 1e-12);
  EXPECT_NEAR(t.at("work_per_run").get<double>(), 3 * size, 3 * size * 1e-12);
  EXPECT_EQ(t.at("bracket"), json({1e4, 1e6}));
  EXPECT_EQ(t.at("versus"), "seq");
  EXPECT_TRUE(has(t.at("note"), "crosses between 1e+04 and 1e+06 rows")) << t.dump();
}

TEST(crossovers, a_win_that_does_not_last_is_not_the_crossover) {
  // Faster at 10^3 (noise), slower at 10^4, faster from 10^5 on: the crossover lies in [10^4, 10^5].
  const json t = entry(find_crossovers(ladder("threads", {1e3, 1e4, 1e5, 1e6}, {0.9, 1.2, 0.7, 0.5})), "threads");
  const double frac = std::log(1.2) / (std::log(1.2) - std::log(0.7));
  const double expect = std::pow(10.0, 4 + frac);
  EXPECT_NEAR(t.at("work_per_run").get<double>(), expect, expect * 1e-12);
  EXPECT_EQ(t.at("bracket"), json({1e4, 1e5}));
  EXPECT_TRUE(has(t.at("note"), "also faster at 1e+03 rows")) << t.dump();
}

TEST(crossovers, gpu_against_the_fastest_cpu_backend_at_each_size) {
  json doc = {{"results", json::array()}};
  // seconds per size (10^4, 10^5, 10^6): the best CPU time is 6, 4, 5 (threads, procs, threads).
  const double sizes[] = {1e4, 1e5, 1e6};
  const double seq[] = {10, 10, 10}, threads[] = {6, 5, 5}, procs[] = {7, 4, 6}, gpu[] = {8, 4.5, 3};
  for (int i = 0; i < 3; ++i) {
    doc["results"].push_back(row("w", "c", sizes[i], "seq", seq[i]));
    doc["results"].push_back(row("w", "c", sizes[i], "threads", threads[i]));
    doc["results"].push_back(row("w", "c", sizes[i], "procs", procs[i]));
    doc["results"].push_back(row("w", "c", sizes[i], "gpu", gpu[i]));
  }
  // An auto row repeats a backend's measurement; it must not count as another backend.
  json a = row("w", "c", 1e4, "gpu", 0.001);
  a["requested_backend"] = "auto";
  doc["results"].push_back(a);
  const json c = find_crossovers(doc);
  ASSERT_EQ(c.size(), 3u) << c.dump();
  EXPECT_EQ(entry(c, "threads").at("work_per_run"), 1e4);  // beats seq everywhere
  const json& g = entry(c, "gpu");
  EXPECT_EQ(g.at("case"), "c");
  EXPECT_EQ(g.at("versus"), "best_cpu");
  // Against seq alone it would win from 10^4; against the best CPU backend it loses up to 10^5.
  EXPECT_EQ(g.at("bracket"), json({1e5, 1e6}));
  const double frac = std::log(4.5 / 4) / (std::log(4.5 / 4) - std::log(3.0 / 5));
  EXPECT_NEAR(g.at("work_per_run").get<double>(), std::pow(10.0, 5 + frac), 1e-6);
}

TEST(crossovers, skipped_backend_and_a_single_size) {
  json doc = ladder("threads", {1e5}, {0.5});
  doc["skipped"].push_back({{"workload", "w"}, {"case", ""}, {"size", 1e5}, {"backend", "gpu"},
                            {"reason", "no CUDA device: none here"}});
  const json c = find_crossovers(doc);
  ASSERT_EQ(c.size(), 2u) << c.dump();
  const json& t = entry(c, "threads");
  EXPECT_EQ(t.at("work_per_run"), 1e5);
  EXPECT_TRUE(has(t.at("note"), "only one size measured")) << t.dump();
  const json& g = entry(c, "gpu");
  EXPECT_EQ(g.at("sizes_compared"), 0);
  EXPECT_TRUE(g.at("work_per_run").is_null());
  EXPECT_TRUE(has(g.at("note"), "not measured: gpu skipped (no CUDA device: none here)")) << g.dump();
  // A backend that never ran where its reference did is not a measurement either.
  json lone = {{"results", {row("w", "", 1e5, "threads", 1.0)}}};
  const json l = entry(find_crossovers(lone), "threads");
  EXPECT_EQ(l.at("sizes_compared"), 0);
  EXPECT_TRUE(has(l.at("note"), "not measured")) << l.dump();
  EXPECT_EQ(find_crossovers(json::object()), json::array());
}

// ---- the file and auto -------------------------------------------------------------------------

// Saves and restores the variables that choose where the file is; each test starts with no file.
class calibration_env : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : vars) {
      const char* s = std::getenv(v);
      saved.push_back(s ? std::optional<std::string>(s) : std::nullopt);
    }
    path = dir / "cache/tandem/crossovers.json";
    ::setenv("TANDEM_CALIBRATION", path.c_str(), 1);
    forget_loaded_calibration();
  }
  void TearDown() override {
    for (std::size_t i = 0; i < saved.size(); ++i) {
      if (saved[i]) ::setenv(vars[i], saved[i]->c_str(), 1);
      else ::unsetenv(vars[i]);
    }
    forget_loaded_calibration();
  }
  static constexpr const char* vars[] = {"TANDEM_CALIBRATION", "XDG_CACHE_HOME", "HOME"};
  std::vector<std::optional<std::string>> saved;
  temp_dir dir;
  std::string path;
};

struct answer {};
json result_json(const answer&) { return 0; }

// A problem of a chosen size, with built-in thresholds 10^3 (threads) and 10^6 (gpu).
class sized final : public workload_of<answer> {
 public:
  explicit sized(double work, bool gpu_path = true, std::string unit = "items/s")
      : work_(work), gpu_path_(gpu_path), unit_(std::move(unit)) {}
  std::string name() const override { return "fake"; }
  std::string case_name() const override { return "small"; }
  nlohmann::json params() const override { return nullptr; }
  work_amount work() const override { return {work_, unit_}; }
  auto_thresholds thresholds() const override { return {1e3, 1e6}; }
  backend_status supports(backend b) const override {
    return b == backend::gpu && !gpu_path_ ? backend_status::no("fake has no GPU path") : backend_status::yes();
  }
  answer compute(run_context&) override { return {}; }

 private:
  double work_;
  bool gpu_path_;
  std::string unit_;
};

// find_crossovers' entries for fake/small, as the bench engine would produce them.
json fake_crossovers(std::optional<double> threads, std::optional<double> gpu) {
  auto one = [](const char* b, std::optional<double> v) {
    return json{{"workload", "fake"}, {"case", "small"}, {"backend", b}, {"versus", "seq"},
                {"work_per_run", v ? json(*v) : json(nullptr)}, {"size_unit", "items"}, {"work_unit", "items"},
                {"sizes_compared", 3}};
  };
  return {one("threads", threads), one("gpu", gpu)};
}

TEST_F(calibration_env, where_the_file_lives) {
  EXPECT_EQ(calibration_path(), path);
  ::unsetenv("TANDEM_CALIBRATION");
  ::setenv("XDG_CACHE_HOME", "/x/cache", 1);
  ::setenv("HOME", "/home/u", 1);
  EXPECT_EQ(calibration_path(), "/x/cache/tandem/crossovers.json");
  ::setenv("XDG_CACHE_HOME", "relative", 1);  // invalid by the XDG rule: ignored
  EXPECT_EQ(calibration_path(), "/home/u/.cache/tandem/crossovers.json");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("TANDEM_CALIBRATION", "", 1);
  EXPECT_EQ(calibration_path(), "/home/u/.cache/tandem/crossovers.json");
  ::unsetenv("HOME");
  EXPECT_EQ(calibration_path(), "");
  EXPECT_FALSE(load_calibration().has_value());
  std::ostringstream notes;
  EXPECT_THROW(calibrate_from(json::object(), notes), usage_error);
}

TEST_F(calibration_env, write_then_load_round_trip_leaves_no_temporary_file) {
  const machine_info m = describe_machine();
  const double odd = 0.1 + 0.2;  // needs all 17 digits to come back
  write_calibration(fake_crossovers(odd * 1e5, std::nullopt), m, path);
  EXPECT_EQ(dir.names(), std::vector<std::string>{"cache"});
  EXPECT_EQ(std::vector<std::string>{"crossovers.json"},
            [&] {
              std::vector<std::string> n;
              for (const auto& e : std::filesystem::directory_iterator(dir.path / "cache/tandem"))
                n.push_back(e.path().filename().string());
              return n;
            }());
  const json file = json::parse(slurp(path));
  EXPECT_EQ(file.at("schema_version"), 1);
  EXPECT_EQ(file.at("machine").at("cpu"), m.cpu_model);
  EXPECT_EQ(file.at("machine").at("logical_cores"), m.logical_cores);
  const std::optional<calibration> cal = load_calibration();
  ASSERT_TRUE(cal.has_value());
  EXPECT_EQ(cal->path, path);
  EXPECT_TRUE(cal->ignored.empty()) << cal->ignored;
  EXPECT_EQ(cal->machine.cpu, m.cpu_model);
  EXPECT_EQ(cal->machine.logical_cores, m.logical_cores);
  EXPECT_EQ(cal->made.size(), std::string("2025-01-01T00:00:00Z").size()) << cal->made;
  const auto& c = cal->crossovers.at({"fake", "small"});
  EXPECT_EQ(c.unit, "items");
  EXPECT_EQ(c.from.at("threads"), odd * 1e5);  // bit for bit
  EXPECT_FALSE(c.from.at("gpu").has_value());
  EXPECT_EQ(c.from.count("procs"), 0u);
}

TEST_F(calibration_env, no_file_means_built_in_defaults) {
  EXPECT_FALSE(load_calibration().has_value());
  const auto mid = choose_auto(sized(1e4));
  EXPECT_EQ(mid.chosen, default_workers(backend::threads) > 1 ? backend::threads : backend::seq) << mid.reason;
  if (default_workers(backend::threads) > 1) {
    EXPECT_TRUE(has(mid.reason, "auto: 1e+04 items per run >= threads crossover 1e+03 (built-in default) → threads"))
        << mid.reason;
  }
}

TEST_F(calibration_env, auto_uses_the_calibrated_crossovers) {
  write_calibration(fake_crossovers(5e4, 2e5), describe_machine(), path);
  const bool many_cores = default_workers(backend::threads) > 1;
  const bool gpu = backend_availability(backend::gpu).available;

  const auto below = choose_auto(sized(1e4));  // above the built-in 10^3, below the measured 5*10^4
  EXPECT_EQ(below.chosen, backend::seq) << below.reason;
  if (many_cores) {
    EXPECT_TRUE(has(below.reason, "auto: 1e+04 items per run < threads crossover 5e+04 (calibrated, " + path + ") → seq"))
        << below.reason;
  }

  const auto above = choose_auto(sized(1e5, false));
  EXPECT_EQ(above.chosen, many_cores ? backend::threads : backend::seq) << above.reason;
  // Why not the gpu: the machine's reason when it has none (a CUDA build without a device), else
  // the workload's.
  EXPECT_TRUE(has(above.reason, gpu ? "gpu: fake has no GPU path"
                                    : "gpu: " + backend_availability(backend::gpu).reason))
      << above.reason;
  if (many_cores) {
    EXPECT_TRUE(has(above.reason, ">= threads crossover 5e+04 (calibrated")) << above.reason;
  }

  const auto big = choose_auto(sized(3e5));  // below the built-in gpu 10^6, above the measured 2*10^5
  EXPECT_EQ(big.chosen, gpu ? backend::gpu : many_cores ? backend::threads : backend::seq) << big.reason;
  if (gpu) {
    EXPECT_TRUE(has(big.reason, "3e+05 items per run >= gpu crossover 2e+05 (calibrated")) << big.reason;
  } else {
    EXPECT_TRUE(has(big.reason, "gpu: no CUDA device")) << big.reason;
  }
  const auto gpu_below = choose_auto(sized(1e5));
  if (gpu && many_cores) {
    EXPECT_EQ(gpu_below.chosen, backend::threads);
    EXPECT_TRUE(has(gpu_below.reason, "gpu: below its crossover 2e+05 (calibrated")) << gpu_below.reason;
  }
}

TEST_F(calibration_env, a_backend_that_never_won_is_never_chosen) {
  write_calibration(fake_crossovers(std::nullopt, std::nullopt), describe_machine(), path);
  const auto huge = choose_auto(sized(1e12));
  EXPECT_EQ(huge.chosen, backend::seq) << huge.reason;
  if (default_workers(backend::threads) > 1) {
    EXPECT_TRUE(has(huge.reason, "auto: threads not faster at any size measured (calibrated, " + path + ") → seq"))
        << huge.reason;
  }
  if (backend_availability(backend::gpu).available) {
    EXPECT_TRUE(has(huge.reason, "gpu: not faster at any size measured (calibrated")) << huge.reason;
  }
}

TEST_F(calibration_env, other_workloads_cases_and_units_keep_the_defaults) {
  write_calibration(fake_crossovers(5e4, 2e5), describe_machine(), path);
  // Another unit: the measurement does not apply (a workload changed its unit since).
  const auto rows = choose_auto(sized(1e4, true, "rows/s"));
  EXPECT_TRUE(has(rows.reason, "(built-in default)")) << rows.reason;
  EXPECT_TRUE(has(rows.reason, "calibrated crossovers in items, not rows: ignored")) << rows.reason;
  // Another case: the file's entry is for fake/small only.
  json other = fake_crossovers(5e4, 2e5);
  for (json& e : other) e["case"] = "large";
  write_calibration(other, describe_machine(), path);
  forget_loaded_calibration();
  const auto r = choose_auto(sized(1e4));
  EXPECT_TRUE(has(r.reason, "(built-in default)")) << r.reason;
  EXPECT_FALSE(has(r.reason, "calibrated")) << r.reason;
}

TEST_F(calibration_env, a_file_from_another_machine_is_ignored_and_auto_says_so) {
  machine_info elsewhere = describe_machine();
  elsewhere.cpu_model = "Some Other CPU 9000";
  write_calibration(fake_crossovers(5e4, 2e5), elsewhere, path);
  const std::optional<calibration> cal = load_calibration();
  ASSERT_TRUE(cal.has_value());
  EXPECT_TRUE(has(cal->ignored, "measured on another machine (Some Other CPU 9000")) << cal->ignored;
  const auto r = choose_auto(sized(1e4));
  EXPECT_TRUE(has(r.reason, "(built-in default)")) << r.reason;
  EXPECT_TRUE(has(r.reason, "; calibration " + path + " ignored: measured on another machine")) << r.reason;

  machine_info more_cores = describe_machine();
  more_cores.logical_cores += 1;
  write_calibration(fake_crossovers(5e4, 2e5), more_cores, path);
  EXPECT_FALSE(load_calibration()->ignored.empty());
  machine_info other_gpu = describe_machine();
  other_gpu.gpus.devices.assign(1, gpu::device_info{});
  other_gpu.gpus.devices[0].name = "Some Other GPU";
  write_calibration(fake_crossovers(5e4, 2e5), other_gpu, path);
  EXPECT_TRUE(has(load_calibration()->ignored, "Some Other GPU")) << load_calibration()->ignored;
}

TEST_F(calibration_env, a_malformed_file_is_a_usage_error_naming_it) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  const json good = [&] {
    write_calibration(fake_crossovers(5e4, 2e5), describe_machine(), path);
    return json::parse(slurp(path));
  }();
  auto with = [&](const char* ptr, json v) {
    json d = good;
    d[json::json_pointer(ptr)] = std::move(v);
    return d.dump();
  };
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{not json", "not JSON"},
      {"[]", "not a JSON object"},
      {"", "not JSON"},
      {with("/schema_version", 2), "schema_version 2"},
      {with("/schema_version", "1"), "no schema_version"},
      {with("/machine/logical_cores", -2), "machine.logical_cores"},
      {with("/machine/gpu", 3), "machine.gpu"},
      {with("/crossovers", json::object()), "no crossovers list"},
      {with("/crossovers/0/threads", -1), "crossovers[0].threads"},
      {with("/crossovers/0/gpu", "big"), "crossovers[0].gpu"},
      {with("/crossovers/0/unit", nullptr), "crossovers[0].unit"},
      {[&] {
         json d = good;
         d["crossovers"].push_back(d["crossovers"][0]);
         return d.dump();
       }(),
       "repeats fake small"}};
  for (const auto& [text, why] : bad) {
    write_file(path, text);
    forget_loaded_calibration();
    try {
      (void)choose_auto(sized(1e4));
      ADD_FAILURE() << "accepted: " << text;
    } catch (const usage_error& e) {
      const std::string m = e.what();
      EXPECT_TRUE(has(m, "calibration file '" + path + "'")) << m;
      EXPECT_TRUE(has(m, why)) << m;
      EXPECT_TRUE(has(m, "re-run `tandem bench --calibrate` or delete it")) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  }
  // A folder where the file should be is no file either.
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);
  EXPECT_THROW(load_calibration(), usage_error);
}

TEST_F(calibration_env, calibrate_from_writes_says_where_and_keeps_other_workloads) {
  write_calibration(fake_crossovers(5e4, 2e5), describe_machine(), path);
  std::ostringstream notes;
  const json crossovers = calibrate_from(ladder("threads", {1e4, 1e6}, {4.0, 0.5}), notes);
  EXPECT_EQ(crossovers.size(), 1u);
  EXPECT_TRUE(has(notes.str(), "to " + path)) << notes.str();
  EXPECT_TRUE(has(notes.str(), "kept 1")) << notes.str();
  EXPECT_TRUE(has(notes.str(), "w: threads vs seq: from 2.15e+05 rows per run")) << notes.str();
  const std::optional<calibration> cal = load_calibration();
  ASSERT_TRUE(cal.has_value());
  EXPECT_EQ(cal->crossovers.size(), 2u);
  EXPECT_NEAR(*cal->crossovers.at({"w", ""}).from.at("threads"), std::pow(10.0, 16.0 / 3), 1e-6);
  EXPECT_EQ(cal->crossovers.at({"fake", "small"}).from.at("threads"), 5e4);
  // And auto reads the new file at once (calibrate_from forgets the one it had loaded).
  if (default_workers(backend::threads) > 1) {
    EXPECT_EQ(choose_auto(sized(1e5)).chosen, backend::threads);
  }
}

// auto reads the file once per process: a decision costs microseconds, not a file read.
TEST_F(calibration_env, a_decision_is_cheap) {
  write_calibration(fake_crossovers(5e4, 2e5), describe_machine(), path);
  const sized w(1e4);
  (void)choose_auto(w);
  constexpr int n = 2000;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) (void)choose_auto(w);
  const double each = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / n;
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) (void)load_calibration();
  const double load = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count() / 20;
  std::printf("choose_auto with the file loaded: %.2f us per call; load_calibration: %.1f us per call\n", each * 1e6,
              load * 1e6);
  EXPECT_LT(each, 1e-3);
}

}  // namespace
