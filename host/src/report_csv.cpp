// The report as CSV: one row per result and per peer, for spreadsheets and scripts.
#include <string>
#include <vector>

#include "report_formats_common.hpp"
#include "tandem/report_formats.hpp"

namespace tandem {

namespace {
using namespace report_detail;

const char* const columns[] = {"kind",       "workload",        "case",         "size",
                               "size_unit",  "backend",         "peer",         "variant",
                               "workers",    "median_s",        "min_s",        "max_s",
                               "ci95_lo",    "ci95_hi",         "runs",         "stop",
                               "throughput", "throughput_unit", "ceiling_kind", "ceiling_fraction",
                               "transfer_s", "speedup_vs_seq",  "tandem_speedup", "note"};

std::string quoted(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void write_row(std::string& out, const std::vector<std::string>& fields) {
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += quoted(fields[i]);
  }
  out += "\r\n";
}

// The columns both kinds of row share: where it ran and how long it took.
std::vector<std::string> common(const json& rec, const char* kind) {
  const json& t = field(rec, "time_s");
  const json& ci = field(t, "ci95");
  const bool has_ci = ci.is_array() && ci.size() == 2;
  return {kind,
          text(rec, "workload"),
          text(rec, "case"),
          machine_number(field(rec, "size")),
          text(rec, "size_unit"),
          "", "", "", "",  // backend, peer, variant, workers: by kind
          machine_number(field(t, "median")),
          machine_number(field(t, "min")),
          machine_number(field(t, "max")),
          has_ci ? machine_number(ci[0]) : "",
          has_ci ? machine_number(ci[1]) : "",
          machine_number(field(t, "runs")),
          text(rec, "stop"),
          "", "", "", "", "", "", "", ""};
}
}  // namespace

std::string report_csv(const nlohmann::json& doc) {
  std::string out;
  write_row(out, std::vector<std::string>(std::begin(columns), std::end(columns)));
  if (const json& results = field(doc, "results"); results.is_array())
    for (const json& r : results) {
      std::vector<std::string> row = common(r, "tandem");
      row[5] = text(r, "backend");
      row[8] = machine_number(field(r, "workers"));
      const json& tp = field(r, "throughput");
      row[16] = machine_number(field(tp, "value"));
      row[17] = text(tp, "unit");
      const json& ceiling = field(r, "ceiling");
      row[18] = text(ceiling, "kind");
      row[19] = machine_number(field(ceiling, "fraction"));
      row[20] = machine_number(field(field(r, "transfer_s"), "median"));
      row[21] = machine_number(field(r, "speedup_vs_seq"));
      row[23] = text(r, "note");
      write_row(out, row);
    }
  if (const json& peers = field(doc, "peers"); peers.is_array())
    for (const json& p : peers) {
      std::vector<std::string> row = common(p, "peer");
      row[6] = text(p, "peer");
      row[7] = text(p, "variant");
      if (row[4].empty()) row[4] = size_unit_of(doc, key_of(p));
      row[22] = machine_number(field(p, "tandem_speedup"));
      row[23] = text(p, "detail");
      write_row(out, row);
    }
  return out;
}

}  // namespace tandem
