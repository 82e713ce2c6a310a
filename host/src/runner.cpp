#include "tandem/runner.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <ostream>

#include "tandem/backend.hpp"
#include "tandem/errors.hpp"

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

run_report run_workload(workload& w, const run_options& options, std::ostream& notes) {
  if (options.repeat == 0) throw usage_error("--repeat must be at least 1");
  if (options.backends.empty()) throw usage_error("no backend given");
  run_report report;
  std::optional<std::size_t> reference;  // index of the first backend that ran

  for (const std::string& requested : options.backends) {
    run_record rec;
    rec.workload = w.name();
    rec.requested = requested;
    rec.params = w.params();
    const backend_choice choice = resolve_backend(requested);
    rec.backend = choice.name;
    if (!choice.note.empty()) {
      rec.reason = choice.note;
      notes << w.name() << ": " << choice.note << '\n';
    }
    const backend_status status = backend_availability(choice.name);
    if (!status.available) {
      if (options.backends.size() == 1)
        throw unavailable_error("backend " + choice.name + " unavailable: " + status.reason);
      rec.skipped = true;
      rec.reason = status.reason;
      notes << w.name() << ": skipping backend " << choice.name << ": " << status.reason << '\n';
      report.records.push_back(std::move(rec));
      continue;
    }

    rec.workers = options.workers.value_or(default_workers(choice.name));
    if (rec.workers == 0) throw usage_error("--workers must be at least 1");
    if (choice.name == "seq" || choice.name == "gpu") rec.workers = 1;
    std::unique_ptr<executor> ex;
    if (choice.name != "gpu") ex = make_executor(choice.name, rec.workers, options.procs);
    run_context ctx{choice.name, rec.workers, ex.get()};

    w.prepare(ctx);
    for (unsigned i = 0; i < options.warmup; ++i) rec.result = w.run(ctx);
    std::vector<double> runs;
    runs.reserve(options.repeat);
    for (unsigned i = 0; i < options.repeat; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      nlohmann::json result = w.run(ctx);
      const auto t1 = std::chrono::steady_clock::now();
      runs.push_back(std::chrono::duration<double>(t1 - t0).count());
      if (!rec.result.is_null() && !w.agree(result, rec.result)) {
        report.agree = false;
        report.disagreement += choice.name + " gave different answers on repeated runs; ";
      }
      rec.result = std::move(result);
    }
    rec.time = summarize(std::move(runs));
    const work_amount work = w.work();
    rec.unit = work.unit;
    rec.throughput = rec.time.median > 0 ? work.per_run / rec.time.median : 0;

    if (!reference) {
      reference = report.records.size();
    } else if (const run_record& first = report.records[*reference]; !w.agree(first.result, rec.result)) {
      report.agree = false;
      report.disagreement += rec.backend + " differs from " + first.backend + "; ";
    }
    report.records.push_back(std::move(rec));
  }
  return report;
}

}  // namespace tandem
