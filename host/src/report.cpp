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

std::string size_format(double v) {
  // 1000000 -> "1e6", 250000 -> "2.5e5", 4000 -> "4000": a ladder's sizes at a glance.
  if (v >= 1e5) {
    char buf[32];
    int e = 0;
    double m = v;
    while (m >= 10) {
      m /= 10;
      ++e;
    }
    std::snprintf(buf, sizeof buf, "%ge%d", std::round(m * 100) / 100, e);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, v == std::floor(v) ? "%.0f" : "%.3g", v);
  return buf;
}

std::string size_words(double size, const std::string& unit) {
  // gemm's size is the order of its square matrices: "n = 2000" reads better than "2000 n".
  if (unit.size() == 1) return unit + " = " + size_format(size);
  return size_format(size) + " " + unit;
}

std::string time_format(double s) {
  if (s >= 1) return fixed(s, 3) + " s";
  if (s >= 1e-3) return fixed(s * 1e3, 2) + " ms";
  if (s >= 1e-6) return fixed(s * 1e6, 2) + " us";
  return fixed(s * 1e9, 1) + " ns";
}

namespace {
nlohmann::json timing_json(const timing& t) {
  return {{"median", t.median}, {"min", t.min},           {"max", t.max},
          {"ci95", {t.ci_lo, t.ci_hi}}, {"runs", t.runs.size()}, {"samples", t.runs}};
}

// The ceiling a record's throughput is held against, from the bench's measured ceilings: the FMA
// peak of its precision for flops on a CPU backend, the read bandwidth for bytes (the GPU's peak
// memory bandwidth on the gpu backend). Null when none applies or none was measured.
nlohmann::json ceiling_json(const run_record& rec, const nlohmann::json& ceilings) {
  if (!ceilings.is_object() || rec.time.median <= 0) return nullptr;
  auto number = [](const nlohmann::json& j, const char* key) {
    return j.is_object() && j.contains(key) && j.at(key).is_number() ? j.at(key).get<double>() : 0.0;
  };
  const bool gpu = rec.backend == "gpu";
  if (rec.work.flops > 0 && !gpu && ceilings.contains("fma_gflops")) {
    const char* kind = rec.work.single_precision ? "f32" : "f64";
    const double peak = number(ceilings.at("fma_gflops"), kind) * 1e9;
    if (peak > 0)
      return {{"kind", std::string("fma_") + kind}, {"fraction", rec.work.flops / rec.time.median / peak}};
  }
  if (rec.work.bytes_read > 0) {
    const double peak = gpu ? (ceilings.contains("gpu") ? number(ceilings.at("gpu"), "peak_gbs") : 0.0) * 1e9
                            : number(ceilings, "read_gbs") * 1e9;
    if (peak > 0)
      return {{"kind", gpu ? "gpu_peak" : "read"}, {"fraction", rec.work.bytes_read / rec.time.median / peak}};
  }
  return nullptr;
}

std::string per_run_unit(std::string unit) {
  if (unit.size() > 2 && unit.compare(unit.size() - 2, 2, "/s") == 0) unit.resize(unit.size() - 2);
  return unit;
}

// Whether a peer stands beside this run: the same workload, case and size.
bool beside(const peer_record& p, const run_report& r) {
  if (r.records.empty()) return false;
  const run_record& f = r.records.front();
  return p.workload == f.workload && p.case_name == f.case_name && p.size == f.size;
}

double best_median(const run_report& r) {
  double best = std::numeric_limits<double>::infinity();
  for (const run_record& rec : r.records)
    if (!rec.skipped && rec.time.median > 0) best = std::min(best, rec.time.median);
  return best;
}
}  // namespace

nlohmann::json report_json(const machine_info& m, const report& r) {
  nlohmann::json results = nlohmann::json::array();
  nlohmann::json skipped = nlohmann::json::array();
  for (const run_report& rr : r.runs) {
    const run_record* seq = find_seq(rr);
    for (const run_record& rec : rr.records) {
      nlohmann::json where = {{"workload", rec.workload}};
      if (rec.size) where.update({{"case", rec.case_name}, {"size", *rec.size}, {"size_unit", rec.size_unit}});
      if (rec.skipped) {
        nlohmann::json j = where;
        j.update({{"backend", rec.backend}, {"reason", rec.reason}});
        skipped.push_back(std::move(j));
        continue;
      }
      nlohmann::json j = where;
      j.update({{"backend", rec.backend},
                {"requested_backend", rec.requested},
                {"workers", rec.workers},
                {"params", rec.params},
                {"result", rec.result},
                {"time_s", timing_json(rec.time)},
                {"stop", rec.stop},
                {"work", {{"per_run", rec.work.per_run}, {"unit", per_run_unit(rec.work.unit)}}},
                {"throughput", {{"value", rec.throughput}, {"unit", rec.unit}}}});
      if (nlohmann::json c = ceiling_json(rec, r.ceilings); !c.is_null()) j["ceiling"] = std::move(c);
      if (rec.transfer_s) j["transfer_s"] = {{"median", *rec.transfer_s}, {"bytes", rec.transfer_bytes}};
      if (seq && rec.time.median > 0) j["speedup_vs_seq"] = seq->time.median / rec.time.median;
      // A floating-point workload's rate in the result itself, as its users read it (gemm's gflops),
      // from the median run: measured, so never among the answers backends must agree on.
      if (rec.unit == "flop/s" && j["result"].is_object()) j["result"]["gflops"] = rec.throughput / 1e9;
      if (!rec.reason.empty()) j["note"] = rec.reason;
      results.push_back(std::move(j));
    }
  }
  nlohmann::json peers = nlohmann::json::array();
  for (const peer_record& p : r.peers) {
    nlohmann::json j = {{"workload", p.workload}};
    if (p.size) j.update({{"case", p.case_name}, {"size", *p.size}});
    j.update({{"peer", p.peer}, {"variant", p.variant}, {"time_s", timing_json(p.time)}, {"stop", p.stop},
              {"detail", p.detail}});
    for (const run_report& rr : r.runs)
      if (beside(p, rr) && std::isfinite(best_median(rr)) && p.time.median > 0)
        j["tandem_speedup"] = p.time.median / best_median(rr);
    peers.push_back(std::move(j));
  }
  nlohmann::json peers_skipped = nlohmann::json::array();
  for (const peer_skip& p : r.peers_skipped)
    peers_skipped.push_back({{"workload", p.workload}, {"case", p.case_name}, {"peer", p.peer}, {"reason", p.reason},
                             {"package", p.package}});
  nlohmann::json doc = {{"schema_version", report_schema_version},
                        {"tandem_version", m.build.version},
                        {"machine", to_json(m)},
                        {"command", r.command}};
  if (!r.settings.is_null()) doc["settings"] = r.settings;
  if (!r.ceilings.is_null()) doc["ceilings"] = r.ceilings;
  doc["results"] = std::move(results);
  doc["skipped"] = std::move(skipped);
  doc["peers"] = std::move(peers);
  doc["peers_skipped"] = std::move(peers_skipped);
  if (!r.crossovers.is_null()) doc["crossovers"] = r.crossovers;
  doc["agree"] = r.agree();
  return doc;
}

void print_table(std::ostream& out, const run_report& r, const std::vector<peer_record>& peers,
                 const nlohmann::json& ceilings) {
  if (r.records.empty()) return;
  const run_record* seq = find_seq(r);
  const run_record& first = r.records.front();
  out << first.workload;
  if (!first.case_name.empty()) out << " (" << first.case_name << ")";
  if (first.size) out << ", " << size_words(*first.size, first.size_unit);
  out << "  " << first.params.dump() << "\n";
  char line[320];
  std::snprintf(line, sizeof line, "  %-9s %7s %11s %9s %11s %11s %22s %8s%s\n", "backend", "workers", "median",
                "95% +-", "min", "max", "throughput", "speedup", ceilings.is_object() ? "  of ceiling" : "");
  out << line;
  for (const run_record& rec : r.records) {
    if (rec.skipped) {
      out << "  " << std::left << std::setw(9) << rec.backend << std::right << " skipped: " << rec.reason << "\n";
      continue;
    }
    const std::string speed = seq ? fixed(seq->time.median / rec.time.median, 2) + "x" : "-";
    const double half = 0.5 * (rec.time.ci_hi - rec.time.ci_lo);
    const std::string ci = rec.time.median > 0 ? fixed(100 * half / rec.time.median, 1) + "%" : "-";
    std::string extra;
    if (const nlohmann::json c = ceiling_json(rec, ceilings); !c.is_null())
      extra += "  " + fixed(100 * c.at("fraction").get<double>(), 1) + "% " + c.at("kind").get<std::string>();
    if (rec.transfer_s) extra += "  (copies " + time_format(*rec.transfer_s) + ")";
    std::snprintf(line, sizeof line, "  %-9s %7u %11s %9s %11s %11s %22s %8s%s\n", rec.backend.c_str(), rec.workers,
                  time_format(rec.time.median).c_str(), ci.c_str(), time_format(rec.time.min).c_str(),
                  time_format(rec.time.max).c_str(), (si_format(rec.throughput) + rec.unit).c_str(), speed.c_str(),
                  extra.c_str());
    out << line;
  }
  const double best = best_median(r);
  for (const peer_record& p : peers) {
    if (!beside(p, r)) continue;
    const std::string name = "peer: " + p.peer + ", " + p.variant;
    const double ratio = p.time.median / best;
    const std::string verdict = ratio >= 1 ? "Tandem's best is " + fixed(ratio, ratio < 10 ? 2 : 1) + "x faster"
                                           : "Tandem's best is " + fixed(1 / ratio, 2) + "x slower";
    std::snprintf(line, sizeof line, "  %-56s %11s   %s\n", name.c_str(), time_format(p.time.median).c_str(),
                  verdict.c_str());
    out << line;
  }
  if (!r.agree) out << "  DISAGREEMENT: " << r.disagreement << "\n";
  else if (r.records.size() > 1) out << "  all backends agree\n";
}

}  // namespace tandem
