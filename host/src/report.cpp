#include "tandem/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <ostream>
#include <sstream>

namespace tandem {

namespace {
const run_record* find_seq(const run_report& r) {
  for (const auto& rec : r.records)
    if (!rec.skipped && rec.backend == "seq") return &rec;
  return nullptr;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}
}  // namespace

bool report::agree() const {
  return std::all_of(runs.begin(), runs.end(), [](const run_report& r) { return r.agree; });
}

std::string si_format(double v) {
  static const char* prefixes[] = {"", "k", "M", "G", "T", "P"};
  int p = 0;
  while (std::fabs(v) >= 1000 && p < 5) {
    v /= 1000;
    ++p;
  }
  return fixed(v, 2) + " " + prefixes[p];
}

std::string time_format(double s) {
  if (s >= 1) return fixed(s, 3) + " s";
  if (s >= 1e-3) return fixed(s * 1e3, 2) + " ms";
  if (s >= 1e-6) return fixed(s * 1e6, 2) + " us";
  return fixed(s * 1e9, 1) + " ns";
}

nlohmann::json report_json(const machine_info& m, const report& r) {
  nlohmann::json results = nlohmann::json::array();
  nlohmann::json skipped = nlohmann::json::array();
  for (const run_report& rr : r.runs) {
    const run_record* seq = find_seq(rr);
    for (const run_record& rec : rr.records) {
      if (rec.skipped) {
        skipped.push_back({{"workload", rec.workload}, {"backend", rec.backend}, {"reason", rec.reason}});
        continue;
      }
      nlohmann::json j = {{"workload", rec.workload},
                          {"backend", rec.backend},
                          {"requested_backend", rec.requested},
                          {"workers", rec.workers},
                          {"params", rec.params},
                          {"result", rec.result},
                          {"time_s",
                           {{"median", rec.time.median},
                            {"min", rec.time.min},
                            {"max", rec.time.max},
                            {"runs", rec.time.runs.size()},
                            {"samples", rec.time.runs}}},
                          {"throughput", {{"value", rec.throughput}, {"unit", rec.unit}}}};
      if (seq && rec.time.median > 0) j["speedup_vs_seq"] = seq->time.median / rec.time.median;
      // A floating-point workload's rate in the result itself, as its users read it (gemm's gflops),
      // from the median run: measured, so never among the answers backends must agree on.
      if (rec.unit == "flop/s" && j["result"].is_object()) j["result"]["gflops"] = rec.throughput / 1e9;
      if (!rec.reason.empty()) j["note"] = rec.reason;
      results.push_back(std::move(j));
    }
  }
  nlohmann::json peers = nlohmann::json::array();
  for (const peer_record& p : r.peers)
    peers.push_back({{"workload", p.workload}, {"peer", p.peer}, {"variant", p.variant}, {"time_s", p.time_s}, {"detail", p.detail}});
  return {{"schema_version", report_schema_version},
          {"tandem_version", m.build.version},
          {"machine", to_json(m)},
          {"results", results},
          {"skipped", skipped},
          {"peers", peers},
          {"agree", r.agree()}};
}

void print_table(std::ostream& out, const run_report& r, const std::vector<peer_record>& peers) {
  if (r.records.empty()) return;
  const run_record* seq = find_seq(r);
  out << r.records.front().workload << "  " << r.records.front().params.dump() << "\n";
  char line[256];
  std::snprintf(line, sizeof line, "  %-9s %7s %11s %11s %11s %22s %8s\n", "backend", "workers", "median", "min", "max",
                "throughput", "speedup");
  out << line;
  double best = std::numeric_limits<double>::infinity();
  for (const run_record& rec : r.records) {
    if (rec.skipped) {
      out << "  " << std::left << std::setw(9) << rec.backend << std::right << " skipped: " << rec.reason << "\n";
      continue;
    }
    best = std::min(best, rec.time.median);
    const std::string speed = seq ? fixed(seq->time.median / rec.time.median, 2) + "x" : "-";
    std::snprintf(line, sizeof line, "  %-9s %7u %11s %11s %11s %22s %8s\n", rec.backend.c_str(), rec.workers,
                  time_format(rec.time.median).c_str(), time_format(rec.time.min).c_str(),
                  time_format(rec.time.max).c_str(), (si_format(rec.throughput) + rec.unit).c_str(), speed.c_str());
    out << line;
  }
  for (const peer_record& p : peers) {
    if (p.workload != r.records.front().workload) continue;
    const std::string name = "peer: " + p.peer + ", " + p.variant;
    std::snprintf(line, sizeof line, "  %-56s %11s   Tandem's best is %sx faster\n", name.c_str(),
                  time_format(p.time_s).c_str(), fixed(p.time_s / best, 1).c_str());
    out << line;
  }
  if (!r.agree) out << "  DISAGREEMENT: " << r.disagreement << "\n";
  else if (r.records.size() > 1) out << "  all backends agree\n";
}

}  // namespace tandem
