#include "tandem/runner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <ostream>

#include "fault_injection.hpp"
#include "tandem/backend.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/context.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/ranks.hpp"

namespace tandem {

timing summarize(std::vector<double> runs) {
  timing t;
  if (runs.empty()) return t;
  std::vector<double> sorted = runs;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  t.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  t.min = sorted.front();
  t.max = sorted.back();
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

// Calls release() however the runs end.
struct prepared {
  workload& w;
  run_context& ctx;
  ~prepared() {
    try {
      w.release(ctx);
    } catch (...) {
    }
  }
};
}  // namespace

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
  const tolerance tol = w.agreement_tolerance();

  for (const backend_request& requested : options.backends) {
    run_record rec;
    rec.workload = w.name();
    rec.requested = requested.name();
    rec.params = w.params();
    backend chosen;
    if (requested.is_auto()) {
      const auto_choice c = choose_auto(w);
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
      if (options.backends.size() == 1) {
        const std::string why = "backend " + rec.backend + " unavailable: " + status.reason;
        // Every rank knows it (agreed_status): they all leave quietly, rank 0 says why.
        if (ranks::distributed()) throw ranks::failure(3, why);
        throw unavailable_error(why);
      }
      rec.skipped = true;
      rec.reason = status.reason;
      notes << w.name() << ": skipping backend " << rec.backend << ": " << status.reason << '\n';
      report.records.push_back(std::move(rec));
      continue;
    }

    rec.workers = chosen == backend::seq || chosen == backend::gpu ? 1 : options.workers.value_or(default_workers(chosen));
    run_context ctx;
    ctx.which = chosen;
    ctx.workers = rec.workers;
    std::optional<prepared> guard;
    std::unique_ptr<executor> ex;
    // A set-up that fails on any rank fails on every rank, with that rank's message (ranks.hpp).
    ranks::agreed([&] {
      if (chosen == backend::gpu) ctx.gpu = &s.gpu();
      // Inputs first, then the executor: procs workers are forked after the inputs exist.
      w.prepare(ctx);
      guard.emplace(w, ctx);
      if (chosen != backend::gpu) ex = make_executor(chosen, rec.workers, options.procs);
    });
    ctx.cpu = ex.get();

    for (unsigned i = 0; i < options.warmup; ++i) {
      (void)w.run(ctx);
      checkpoint("run_done");
    }
    std::vector<double> runs;
    runs.reserve(options.repeat);
    std::unique_ptr<result> first, last;
    if (ctx.gpu) (void)ctx.gpu->take_transfer_stats();  // prepare's uploads and the warm-up's copies
    for (unsigned i = 0; i < options.repeat; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      std::unique_ptr<result> r = w.run(ctx);
      const auto t1 = std::chrono::steady_clock::now();
      runs.push_back(std::chrono::duration<double>(t1 - t0).count());
      if (ctx.gpu) rec.transfer.push_back(ctx.gpu->take_transfer_stats());  // after t1: not timed
      if (!first) first = std::move(r);
      else last = std::move(r);
      checkpoint("run_done");
    }
    // After timing: the answer as JSON, and repeated runs must agree with each other bitwise.
    rec.result = first->to_json();
    if (last) {
      const agreement a = compare_results(rec.result, last->to_json(), {});
      if (!a.same) {
        report.agree = false;
        report.disagreement += rec.backend + " gave different answers on repeated runs (" + a.where + "); ";
      }
    }
    rec.time = summarize(std::move(runs));
    const work_amount work = w.work();
    rec.unit = work.unit;
    rec.throughput = rec.time.median > 0 ? work.per_run / rec.time.median : 0;

    if (!reference) {
      reference = report.records.size();
    } else if (const run_record& ref = report.records[*reference];
               !compare_results(ref.result, rec.result, tol).same) {
      report.agree = false;
      report.disagreement += rec.backend + " differs from " + ref.backend + " (" +
                             compare_results(ref.result, rec.result, tol).where + "); ";
    }
    report.records.push_back(std::move(rec));
    checkpoint("backend_done");  // the executor (a procs pool) still exists here
  }
  return report;
}

auto_choice choose_auto(const workload& w) {
  const work_amount work = w.work();
  const auto_thresholds t = w.thresholds();
  std::string unit = work.unit;
  if (unit.size() > 2 && unit.compare(unit.size() - 2, 2, "/s") == 0) unit.resize(unit.size() - 2);
  auto num = [](double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", v);
    return std::string(buf);
  };
  const std::string size = num(work.per_run) + " " + unit + " per run";
  const backend_status gpu = can_run(w, backend::gpu);
  if (gpu.available && work.per_run >= t.gpu)
    return {backend::gpu, "auto chose gpu: " + size + " >= " + num(t.gpu) + " (gpu threshold), on " +
                              gpu::discover().devices.front().name};
  const std::string why_not_gpu =
      gpu.available ? "gpu: below its threshold " + num(t.gpu) : "gpu: " + gpu.reason;
  if (default_workers(backend::threads) > 1 && work.per_run >= t.threads && can_run(w, backend::threads).available)
    return {backend::threads, "auto chose threads: " + size + " >= " + num(t.threads) + " (threads threshold); " +
                                  why_not_gpu};
  const std::string why_not_threads = default_workers(backend::threads) > 1
                                          ? size + " < " + num(t.threads) + " (threads threshold)"
                                          : "one logical core";
  return {backend::seq, "auto chose seq: " + why_not_threads + "; " + why_not_gpu};
}

}  // namespace tandem
