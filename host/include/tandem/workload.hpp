// A workload is what the CLI and `tandem bench` run on each backend: one parameter set, one
// answer per run, and the amount of work a run does, for throughput.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tandem/executor.hpp"

namespace tandem {

struct run_context {
  std::string backend;        // seq, threads, procs or gpu (auto is resolved before)
  unsigned workers = 1;
  executor* cpu = nullptr;    // the backend's executor; null for gpu
};

struct work_amount {
  double per_run = 0;   // e.g. 8e7 terms
  std::string unit;     // e.g. "terms/s"
};

class workload {
 public:
  virtual ~workload() = default;
  virtual std::string name() const = 0;
  virtual nlohmann::json params() const = 0;
  virtual work_amount work() const = 0;
  // Untimed set-up for a backend (device buffers, inputs); called once before the warm-up runs.
  virtual void prepare(const run_context&) {}
  // One run; the answer must be the same on every backend (see agree).
  virtual nlohmann::json run(const run_context& ctx) = 0;
  // Whether two answers agree. Exact equality unless a workload documents a tolerance.
  virtual bool agree(const nlohmann::json& a, const nlohmann::json& b) const { return a == b; }
};

}  // namespace tandem
