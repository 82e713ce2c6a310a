// A workload is what the CLI and `tandem bench` run on each backend: one problem, one typed
// answer per run, the amount of work a run does (for throughput), the backends it supports, and
// how closely two backends' answers must agree. See docs/adding-a-workload.md.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/backend.hpp"
#include "tandem/executor.hpp"

namespace tandem {

namespace gpu {
class context;
}

// Host memory for one window of partials (run_groups in job.hpp), kept across the runs of a
// backend. A fresh allocation per run costs its page faults again: measured 4% of a 5 ms run
// (10,000 x 252 montecarlo paths on seq, whose window is 16 partials of 16 KB). Contents are
// uninitialised; partials are trivially copyable, so the executors simply assign them.
class window_buffer {
 public:
  template <class T>
  T* get(std::size_t n) {
    static_assert(std::is_trivially_copyable_v<T> && alignof(T) <= align);
    const std::size_t bytes = n * sizeof(T);
    if (bytes > bytes_) {
      data_.reset(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{align})));
      bytes_ = bytes;
    }
    return reinterpret_cast<T*>(data_.get());
  }

 private:
  static constexpr std::size_t align = 64;
  struct release {
    void operator()(std::byte* p) const noexcept { ::operator delete(p, std::align_val_t{align}); }
  };
  std::unique_ptr<std::byte, release> data_;
  std::size_t bytes_ = 0;
};

// What a run has to work with. Set up by the runner for one backend.
struct run_context {
  backend which = backend::seq;
  unsigned workers = 1;
  // The CPU backends' executor. Null during prepare(): the runner calls prepare() first, then
  // makes the executor, so that procs workers are forked after the inputs exist.
  executor* cpu = nullptr;
  gpu::context* gpu = nullptr;  // the gpu backend's device context, owned by the runner
  window_buffer windows;        // run_groups' partials, reused by every run on this context
};

// The context for running on a CPU executor directly (programs that embed Tandem): its backend
// from the executor's name, its workers, the executor itself.
run_context cpu_context(executor& ex);

struct work_amount {
  double per_run = 0;  // e.g. 8e7 terms
  std::string unit;    // e.g. "terms/s"
  // What bounds a run, for `tandem bench`'s fraction of the machine's measured ceilings: its
  // floating-point operations (against the FMA peak of that precision) or the bytes it reads
  // (against the read bandwidth). Zero when neither describes the work.
  double flops = 0;
  bool single_precision = false;
  double bytes_read = 0;
};

// Sizes from which `auto` prefers a parallel backend, in the workload's work units per run: the
// built-in defaults, used until `tandem bench --calibrate` measures them on this machine (the
// rule is in docs/execution-model.md).
struct auto_thresholds {
  double threads = 1e6;  // below: seq (a parallel start costs more than it saves)
  double gpu = 1e9;      // from here, the gpu when one is usable
};

// How closely two backends' answers must agree: bitwise (the default, and what the execution
// model gives every workload whose math is the same everywhere), or within `relative`, with the
// reason the math justifies (e.g. cuBLAS and OpenBLAS sum in different orders).
struct tolerance {
  double relative = 0;
  std::string why;
  // Keys of the result (at any depth) that report on the run rather than give the answer, e.g.
  // gemm's max_rel_error against its reference: left out of the comparison.
  std::vector<std::string> not_compared = {};
};

struct agreement {
  bool same = true;
  std::string where;  // the first difference: its JSON path and both values
};

// Compares two answers (their JSON forms, made after timing): numbers within the tolerance (zero:
// the same bits), everything else exactly.
agreement compare_results(const nlohmann::json& a, const nlohmann::json& b, const tolerance& t);

// A workload's typed answer behind a uniform face; JSON only when asked, after timing.
class result {
 public:
  virtual ~result() = default;
  virtual nlohmann::json to_json() const = 0;
};

template <class T>
class typed_result final : public result {
 public:
  explicit typed_result(T v) : value(std::move(v)) {}
  nlohmann::json to_json() const override { return result_json(value); }  // found by ADL
  T value;
};

class workload {
 public:
  virtual ~workload() = default;
  virtual std::string name() const = 0;
  virtual nlohmann::json params() const = 0;
  virtual work_amount work() const = 0;
  // Whether this problem can run on `b` (beyond the machine having it), and why not.
  virtual backend_status supports(backend) const { return backend_status::yes(); }
  virtual auto_thresholds thresholds() const { return {}; }
  // Which of the workload's bench cases this problem is (e.g. reduce's "count-matches"), so that
  // auto finds the crossovers `tandem bench --calibrate` measured for it; "" for a workload with
  // one case. Must match the "case" of its rows in the bench document.
  virtual std::string case_name() const { return {}; }
  virtual tolerance agreement_tolerance() const { return {}; }
  // Untimed set-up for one backend (inputs, device buffers, uploads); called once before the
  // warm-up runs. Timed runs should then allocate nothing on the device.
  virtual void prepare(run_context&) {}
  // One timed run.
  virtual std::unique_ptr<result> run(run_context& ctx) = 0;
  // Drops what prepare() made for this backend; called after its last run.
  virtual void release(run_context&) {}
};

// A workload whose run returns Result (with a `result_json(const Result&)` found by ADL).
template <class Result>
class workload_of : public workload {
 public:
  using result_type = Result;
  virtual Result compute(run_context& ctx) = 0;
  std::unique_ptr<result> run(run_context& ctx) final { return std::make_unique<typed_result<Result>>(compute(ctx)); }
};

// What `auto` resolves to for this workload and problem on this machine, and why, in words:
// "auto: 8e+07 terms per run >= threads crossover 2e+06 (built-in default) → threads; gpu: no
// CUDA device: ...". The crossovers are measured ones (tandem/calibration.hpp) when `tandem bench
// --calibrate` ran on this machine, else thresholds(); docs/execution-model.md has the rule.
struct auto_choice {
  backend chosen = backend::seq;
  std::string reason;
};
auto_choice choose_auto(const workload& w);

}  // namespace tandem
