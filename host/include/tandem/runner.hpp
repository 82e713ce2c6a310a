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
  std::vector<double> runs;
};

struct run_record {
  std::string workload;
  std::string backend;    // what ran
  std::string requested;  // what the user typed (differs for auto)
  unsigned workers = 0;
  nlohmann::json params;
  nlohmann::json result;  // the last run's answer, made after timing
  timing time;
  double throughput = 0;  // work units per second at the median time
  std::string unit;
  // gpu only: the host<->device copies of each timed run (context::take_transfer_stats), in the
  // order of time.runs; empty for the CPU backends.
  std::vector<gpu::transfer_stats> transfer;
  bool skipped = false;
  std::string reason;     // why skipped, or what auto chose and why
};

struct run_report {
  std::vector<run_record> records;
  bool agree = true;         // every backend that ran gave the same answer
  std::string disagreement;  // which ones did not, in words
};

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

// Throws unavailable_error when the only backend asked for cannot run here (or the workload does
// not support it); in a list, such a backend is recorded as skipped with its reason. `notes` gets
// one line per skip or auto choice.
run_report run_workload(workload& w, const run_options& options, std::ostream& notes, session& s);
run_report run_workload(workload& w, const run_options& options, std::ostream& notes);

}  // namespace tandem
