#include "tandem/runner.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>

#include "fault_injection.hpp"
#include "tandem/backend.hpp"
#include "tandem/calibration.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/ranks.hpp"
#include "tandem/stats.hpp"

namespace tandem {

timing summarize(std::vector<double> runs) {
  timing t;
  if (runs.empty()) return t;
  const stats::summary s = stats::summarize(runs);
  t.median = s.median;
  t.min = s.min;
  t.max = s.max;
  t.ci_lo = s.ci_lo;
  t.ci_hi = s.ci_hi;
  t.runs = std::move(runs);
  return t;
}

session::session() = default;
session::~session() = default;

gpu::context& session::gpu() {
  // Ranks on one node use different devices: local rank modulo the device count (docs/mpi.md).
  if (!gpu_) gpu_ = gpu::context::open(ranks::gpu_device(int(gpu::discover().devices.size())));
  return *gpu_;
}

namespace {
// Whether backend b can run workload w here: the machine must have it and the workload support it.
backend_status can_run(const workload& w, backend b) {
  backend_status st = backend_availability(b);
  if (!st.available) return st;
  return w.supports(b);
}

// Between two runs and two backends: a signal recorded while a pool was busy is acted on here at
// the latest (the CLI's handler usually ends the process before; docs/reliability.md).
void checkpoint(const char* fault_point) {
  fault::hit(fault_point);
  throw_if_interrupted();
}

// Whether every rank can run a backend: `st` when one rank, else the first refusal (by rank).
backend_status agreed_status(const backend_status& st) {
  if (!ranks::distributed()) return st;
  try {
    ranks::checked(st.available ? nullptr : std::make_exception_ptr(unavailable_error(st.reason)));
  } catch (const ranks::failure& f) {
    return backend_status::no(f.what());
  }
  return st;
}

}  // namespace

// Calls release() however the runs end.
struct armed_backend::prepared {
  workload& w;
  run_context& ctx;
  prepared(workload& w_, run_context& ctx_) : w(w_), ctx(ctx_) {}
  prepared(const prepared&) = delete;
  prepared& operator=(const prepared&) = delete;
  ~prepared() {
    try {
      w.release(ctx);
    } catch (...) {
    }
  }
};

armed_backend::armed_backend(workload& w) : w_(w) {}
armed_backend::~armed_backend() {
  // The executor first (a procs pool is stopped and reaped), then the workload's release().
  ex_.reset();
  guard_.reset();
}

std::unique_ptr<armed_backend> armed_backend::arm(workload& w, const backend_request& requested,
                                                  const run_options& options, bool alone, std::ostream& notes,
                                                  session& s, run_record& rec) {
  rec.workload = w.name();
  rec.requested = requested.name();
  rec.params = w.params();
  backend chosen;
  if (requested.is_auto()) {
    // A calibration file that one rank cannot read stops every rank (rank 0's choice is the
    // one that runs, below, but every rank reads its own file).
    auto_choice c;
    ranks::agreed([&] { c = choose_auto(w); });
    chosen = c.chosen;
    rec.reason = c.reason;
    notes << w.name() << ": " << c.reason << '\n';
  } else {
    chosen = *requested.fixed;
  }
  if (ranks::distributed()) {
    // Every rank runs what rank 0 chose, and a backend runs only where every rank can run it:
    // the ranks' collectives must match (nodes may differ in cores and GPUs).
    int c = static_cast<int>(chosen);
    ranks::broadcast_value(c);
    chosen = static_cast<backend>(c);
  }
  rec.backend = std::string(to_string(chosen));
  const backend_status status = agreed_status(can_run(w, chosen));
  if (!status.available) {
    if (alone) {
      const std::string why = "backend " + rec.backend + " unavailable: " + status.reason;
      // Every rank knows it (agreed_status): they all leave quietly, rank 0 says why.
      if (ranks::distributed()) throw ranks::failure(3, why);
      throw unavailable_error(why);
    }
    rec.skipped = true;
    rec.reason = status.reason;
    notes << w.name() << ": skipping backend " << rec.backend << ": " << status.reason << '\n';
    return nullptr;
  }

  rec.workers = chosen == backend::seq || chosen == backend::gpu ? 1 : options.workers.value_or(default_workers(chosen));
  std::unique_ptr<armed_backend> a(new armed_backend(w));
  a->ctx_.which = chosen;
  a->ctx_.workers = rec.workers;
  // A set-up that fails on any rank fails on every rank, with that rank's message (ranks.hpp).
  ranks::agreed([&] {
    if (chosen == backend::gpu) a->ctx_.gpu = &s.gpu();
    // Inputs first, then the executor: procs workers are forked after the inputs exist.
    w.prepare(a->ctx_);
    a->guard_ = std::make_unique<prepared>(w, a->ctx_);
    if (chosen != backend::gpu) a->ex_ = make_executor(chosen, rec.workers, options.procs);
  });
  a->ctx_.cpu = a->ex_.get();
  return a;
}

void armed_backend::warm_up() {
  (void)w_.run(ctx_);
  checkpoint("run_done");
}

double armed_backend::timed_run() {
  // The copies of prepare's uploads and of the warm-up runs are not the timed runs'.
  if (ctx_.gpu && runs_.empty()) (void)ctx_.gpu->take_transfer_stats();
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<result> r = w_.run(ctx_);
  const auto t1 = std::chrono::steady_clock::now();
  if (!first_) first_ = std::move(r);
  else last_ = std::move(r);
  runs_.push_back(std::chrono::duration<double>(t1 - t0).count());
  if (ctx_.gpu) {
    const gpu::transfer_stats t = ctx_.gpu->take_transfer_stats();
    transfers_.push_back(t.seconds);
    transfer_bytes_ = double(t.bytes);
  }
  checkpoint("run_done");
  return runs_.back();
}

void armed_backend::finish(run_report& report, std::size_t index, std::optional<std::size_t>& reference) {
  run_record& rec = report.records[index];
  // After timing: the answer as JSON, and repeated runs must agree with each other bitwise.
  rec.result = first_->to_json();
  if (last_) {
    const agreement a = compare_results(rec.result, last_->to_json(), {});
    if (!a.same) {
      report.agree = false;
      report.disagreement += rec.backend + " gave different answers on repeated runs (" + a.where + "); ";
    }
  }
  rec.time = summarize(runs_);
  if (!transfers_.empty()) {
    rec.transfer_s = summarize(transfers_).median;
    rec.transfer_bytes = transfer_bytes_;
  }
  rec.work = w_.work();
  rec.unit = rec.work.unit;
  rec.throughput = rec.time.median > 0 ? rec.work.per_run / rec.time.median : 0;
  if (!reference) {
    reference = index;
  } else if (const run_record& ref = report.records[*reference];
             !compare_results(ref.result, rec.result, w_.agreement_tolerance()).same) {
    report.agree = false;
    report.disagreement += rec.backend + " differs from " + ref.backend + " (" +
                           compare_results(ref.result, rec.result, w_.agreement_tolerance()).where + "); ";
  }
}

run_report run_workload(workload& w, const run_options& options, std::ostream& notes) {
  session s;
  return run_workload(w, options, notes, s);
}

run_report run_workload(workload& w, const run_options& options, std::ostream& notes, session& s) {
  if (options.repeat == 0) throw usage_error("--repeat must be at least 1");
  if (options.backends.empty()) throw usage_error("no backend given");
  if (options.workers && *options.workers == 0) throw usage_error("--workers must be at least 1");
  run_report report;
  std::optional<std::size_t> reference;  // index of the first backend that ran

  for (const backend_request& requested : options.backends) {
    run_record rec;
    std::unique_ptr<armed_backend> a =
        armed_backend::arm(w, requested, options, options.backends.size() == 1, notes, s, rec);
    if (!a) {
      report.records.push_back(std::move(rec));
      continue;
    }
    for (unsigned i = 0; i < options.warmup; ++i) a->warm_up();
    for (unsigned i = 0; i < options.repeat; ++i) a->timed_run();
    report.records.push_back(std::move(rec));
    a->finish(report, report.records.size() - 1, reference);
    checkpoint("backend_done");  // the executor (a procs pool) still exists here
  }
  return report;
}

namespace {
// The calibration file's path as printed: the home folder as "~".
std::string shown_path(const std::string& path) {
  const char* home = std::getenv("HOME");
  const std::size_t n = home ? std::strlen(home) : 0;
  if (n > 1 && path.size() > n && path.compare(0, n, home) == 0 && path[n] == '/') {
    std::string shown = "~";  // appended, not "~" + substr: g++ 12 warns falsely (-Wrestrict) on that
    shown.append(path, n, std::string::npos);
    return shown;
  }
  return path;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// One backend's crossover for auto: the work per run from which it is chosen (none: never), and
// where that number came from, in words.
struct crossover_used {
  std::optional<double> from;
  std::string source;
};
}  // namespace

auto_choice choose_auto(const workload& w) {
  const work_amount work = w.work();
  const auto_thresholds builtin = w.thresholds();
  std::string unit = work.unit;
  if (unit.size() > 2 && unit.compare(unit.size() - 2, 2, "/s") == 0) unit.resize(unit.size() - 2);

  // Measured crossovers for this workload and case, when `tandem bench --calibrate` measured them
  // on this machine in this unit; else the workload's built-in thresholds.
  const std::optional<calibration> cal = calibration_for_auto();
  const calibrated_crossovers* measured = nullptr;
  std::string aside;
  if (cal && !cal->ignored.empty()) {
    aside = "; calibration " + shown_path(cal->path) + " ignored: " + cal->ignored;
  } else if (cal) {
    if (const auto it = cal->crossovers.find({w.name(), w.case_name()}); it != cal->crossovers.end()) {
      if (it->second.unit == unit) measured = &it->second;
      else aside = "; calibrated crossovers in " + it->second.unit + ", not " + unit + ": ignored";
    }
  }
  auto crossover = [&](const char* b, double fallback) -> crossover_used {
    if (measured)
      if (const auto it = measured->from.find(b); it != measured->from.end())
        return {it->second, "calibrated, " + shown_path(cal->path)};
    // An infinite built-in threshold: the workload never picks that backend by default.
    return {std::isfinite(fallback) ? std::optional<double>(fallback) : std::nullopt, "built-in default"};
  };
  auto never = [](const crossover_used& c) {
    return c.source == "built-in default" ? "never chosen by default" : "not faster at any size measured";
  };
  auto says = [&](const char* b, const crossover_used& c) {
    return c.from ? std::string(b) + " crossover " + num(*c.from) + " (" + c.source + ")"
                  : std::string(b) + " " + never(c) + " (" + c.source + ")";
  };

  const std::string size = num(work.per_run) + " " + unit + " per run";
  const crossover_used gpu_x = crossover("gpu", builtin.gpu);
  const backend_status gpu = can_run(w, backend::gpu);
  if (gpu.available && gpu_x.from && work.per_run >= *gpu_x.from)
    return {backend::gpu, "auto: " + size + " >= " + says("gpu", gpu_x) + " → gpu (" +
                              gpu::discover().devices.front().name + ")" + aside};
  const std::string why_not_gpu =
      !gpu.available ? "gpu: " + gpu.reason
                     : gpu_x.from ? "gpu: below its crossover " + num(*gpu_x.from) + " (" + gpu_x.source + ")"
                                  : "gpu: " + std::string(never(gpu_x)) + " (" + gpu_x.source + ")";

  const crossover_used threads_x = crossover("threads", builtin.threads);
  const backend_status threads = can_run(w, backend::threads);
  std::string why_seq;
  if (default_workers(backend::threads) <= 1) {
    why_seq = "one logical core";
  } else if (!threads.available) {
    why_seq = "threads: " + threads.reason;
  } else if (!threads_x.from) {
    why_seq = says("threads", threads_x);
  } else if (work.per_run >= *threads_x.from) {
    return {backend::threads, "auto: " + size + " >= " + says("threads", threads_x) + " → threads; " + why_not_gpu + aside};
  } else {
    why_seq = size + " < " + says("threads", threads_x);
  }
  return {backend::seq, "auto: " + why_seq + " → seq; " + why_not_gpu + aside};
}

}  // namespace tandem
