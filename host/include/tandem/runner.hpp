// Runs one workload on a list of backends: set-up, warm-up, timed repeats, and a check that every
// backend gave the same answer (within the workload's tolerance; bitwise unless it says why not).
#pragma once

#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/backend.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/workload.hpp"

namespace tandem {

struct run_options {
  std::vector<backend_request> backends{backend_request{backend::seq}};  // may include auto
  std::optional<unsigned> workers;  // default: per backend (default_workers)
  unsigned repeat = 5;              // timed runs, >= 1
  unsigned warmup = 1;              // untimed runs before them
  procs_settings procs;             // retries and chunk timeout for the procs backend
};

struct timing {
  double median = 0, min = 0, max = 0;  // seconds
  // A distribution-free interval holding the median with >= 95% confidence (stats.hpp); [min, max]
  // when there are too few runs for that.
  double ci_lo = 0, ci_hi = 0;
  std::vector<double> runs;
};

struct run_record {
  std::string workload;
  std::string case_name;  // `tandem bench`: which of the workload's problems ("" for its main one)
  std::optional<double> size;  // `tandem bench`: the size on the case's ladder, in size_unit
  std::string size_unit;
  std::string backend;    // what ran
  std::string requested;  // what the user typed (differs for auto)
  unsigned workers = 0;
  nlohmann::json params;
  nlohmann::json result;  // the last run's answer, made after timing
  timing time;
  double throughput = 0;  // work units per second at the median time
  std::string unit;
  work_amount work;       // per run, in the workload's units (what auto compares with crossovers)
  std::string stop = "fixed";  // why repetition stopped: fixed (--repeat), stable, budget, max_runs
  // The gpu backend's host<->device copies in the median run: the sum of their durations (they
  // may overlap kernels and each other) and their bytes. Absent on other backends.
  std::optional<double> transfer_s;
  double transfer_bytes = 0;
  bool skipped = false;
  std::string reason;     // why skipped, or what auto chose and why
};

struct run_report {
  std::vector<run_record> records;
  bool agree = true;         // every backend that ran gave the same answer
  std::string disagreement;  // which ones did not, in words
};

// The median, extremes and the median's 95% interval of these runs (stats.hpp).
timing summarize(std::vector<double> runs);

// What lives across the workloads of one invocation: the GPU device context, opened on first use
// and kept (its pool keeps device memory between runs).
class session {
 public:
  session();
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  // Throws unavailable_error when there is no usable device.
  gpu::context& gpu();

 private:
  std::unique_ptr<gpu::context> gpu_;
};

// One backend made ready to run a workload: chosen (auto resolved; under MPI rank 0's choice),
// agreed available on every rank, prepared, its executor made. run_workload runs one after the
// other; `tandem bench` keeps one per backend (each with its own workload object) and runs them
// round by round, so that a noisy machine moves them all alike.
class armed_backend {
 public:
  // Null, with `rec` marked skipped and the reason noted, when the backend cannot run here; throws
  // unavailable_error instead when it was asked for `alone`. `rec` gets the workload, params,
  // backend and workers.
  static std::unique_ptr<armed_backend> arm(workload& w, const backend_request& requested, const run_options& options,
                                            bool alone, std::ostream& notes, session& s, run_record& rec);
  ~armed_backend();
  armed_backend(const armed_backend&) = delete;
  armed_backend& operator=(const armed_backend&) = delete;

  void warm_up();
  // One timed run; returns its seconds (the gpu backend also notes its copies' time).
  double timed_run();
  std::size_t runs() const noexcept { return runs_.size(); }
  const std::vector<double>& samples() const noexcept { return runs_; }
  // Fills report.records[index] (this backend's record) with the answer, timing and throughput,
  // and checks the answer against repeated runs and against report.records[*reference] (the first
  // backend that ran; set to `index` when empty).
  void finish(run_report& report, std::size_t index, std::optional<std::size_t>& reference);

 private:
  struct prepared;
  explicit armed_backend(workload& w);
  workload& w_;
  run_context ctx_;
  std::unique_ptr<executor> ex_;
  std::unique_ptr<prepared> guard_;
  std::unique_ptr<result> first_, last_;
  std::vector<double> runs_, transfers_;
  double transfer_bytes_ = 0;
};

// Throws unavailable_error when the only backend asked for cannot run here (or the workload does
// not support it); in a list, such a backend is recorded as skipped with its reason. `notes` gets
// one line per skip or auto choice.
run_report run_workload(workload& w, const run_options& options, std::ostream& notes, session& s);
run_report run_workload(workload& w, const run_options& options, std::ostream& notes);

}  // namespace tandem
