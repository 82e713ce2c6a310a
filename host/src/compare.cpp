#include "tandem/compare.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <tuple>

#include "tandem/errors.hpp"
#include "tandem/report.hpp"
#include "tandem/stats.hpp"

namespace tandem {

namespace {

constexpr double nan = std::numeric_limits<double>::quiet_NaN();

// One result of a report, as much of it as a comparison needs.
struct entry {
  std::string workload, case_name, backend, size_unit;
  double size = nan;
  double median = 0;
  std::vector<double> samples;
};

std::string where(std::size_t i) { return "results[" + std::to_string(i) + "]"; }

std::string optional_string(const nlohmann::json& r, const char* key, std::size_t i) {
  const auto it = r.find(key);
  if (it == r.end() || it->is_null()) return "";
  if (!it->is_string()) throw usage_error(where(i) + "." + key + " is not a string");
  return it->get<std::string>();
}

std::string required_string(const nlohmann::json& r, const char* key, std::size_t i) {
  const auto it = r.find(key);
  if (it == r.end() || !it->is_string()) throw usage_error(where(i) + " has no " + key);
  return it->get<std::string>();
}

entry read_entry(const nlohmann::json& r, std::size_t i) {
  if (!r.is_object()) throw usage_error(where(i) + " is not an object");
  entry e;
  e.workload = required_string(r, "workload", i);
  e.backend = required_string(r, "backend", i);
  e.case_name = optional_string(r, "case", i);
  e.size_unit = optional_string(r, "size_unit", i);
  if (const auto s = r.find("size"); s != r.end() && !s->is_null()) {
    if (!s->is_number()) throw usage_error(where(i) + ".size is not a number");
    e.size = s->get<double>();
  }
  const auto t = r.find("time_s");
  if (t == r.end() || !t->is_object()) throw usage_error(where(i) + " has no time_s.median");
  const auto m = t->find("median");
  if (m == t->end() || !m->is_number()) throw usage_error(where(i) + " has no time_s.median");
  e.median = m->get<double>();
  if (!(e.median >= 0)) throw usage_error(where(i) + ".time_s.median is negative");
  if (const auto s = t->find("samples"); s != t->end() && !s->is_null()) {
    if (!s->is_array()) throw usage_error(where(i) + ".time_s.samples is not an array");
    for (const auto& v : *s) {
      if (!v.is_number()) throw usage_error(where(i) + ".time_s.samples holds something that is not a number");
      e.samples.push_back(v.get<double>());
    }
  }
  return e;
}

std::vector<entry> read_entries(const nlohmann::json& doc) {
  if (!doc.is_object()) throw usage_error("not a JSON object");
  const auto v = doc.find("schema_version");
  if (v == doc.end()) throw usage_error("no schema_version");
  if (!v->is_number_integer() || (v->get<long long>() != 1 && v->get<long long>() != 2))
    throw usage_error("schema_version " + v->dump() + " is not one this Tandem reads (1 or 2)");
  const auto results = doc.find("results");
  if (results == doc.end() || !results->is_array()) throw usage_error("no \"results\" array");
  std::vector<entry> out;
  out.reserve(results->size());
  for (std::size_t i = 0; i < results->size(); ++i) out.push_back(read_entry((*results)[i], i));
  return out;
}

// Sizes are compared bitwise (they round-trip through JSON); an absent size matches only another.
using key = std::tuple<std::string, std::string, bool, double, std::string>;
key key_of(const entry& e) {
  const bool sized = !std::isnan(e.size);
  return {e.workload, e.case_name, sized, sized ? e.size : 0.0, e.backend};
}

comparison_row row_of(const entry& e) {
  comparison_row r;
  r.workload = e.workload;
  r.case_name = e.case_name;
  r.backend = e.backend;
  r.size = e.size;
  r.size_unit = e.size_unit;
  return r;
}

double relative_change(double old_median, double new_median) {
  if (old_median == 0) return new_median == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return new_median / old_median - 1;
}

void decide(comparison_row& r, const entry& old_e, const entry& new_e, double fail_above_percent, double alpha) {
  r.old_median = old_e.median;
  r.new_median = new_e.median;
  r.change = relative_change(old_e.median, new_e.median);
  if (r.size_unit.empty()) r.size_unit = old_e.size_unit;
  const std::size_t n_old = old_e.samples.size(), n_new = new_e.samples.size();
  if (n_old < 3 || n_new < 3 || stats::mann_whitney_min_p(n_old, n_new) >= alpha) {
    // No arrangement of so few runs could be significant: the threshold alone decides, both ways.
    r.test = "too few runs";
    const double percent = r.change * 100;
    r.verdict = percent > fail_above_percent ? "slower" : percent < -fail_above_percent ? "faster" : "same";
  } else {
    const stats::test_result t = stats::mann_whitney(old_e.samples, new_e.samples);
    r.p_value = t.p_value;
    r.test = t.name;
    if (t.p_value < alpha && new_e.median != old_e.median)
      r.verdict = new_e.median > old_e.median ? "slower" : "faster";
    else
      r.verdict = "same";
  }
  r.regressed = r.verdict == "slower" && r.change * 100 > fail_above_percent;
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string size_text(const comparison_row& r) {
  if (std::isnan(r.size)) return "-";
  std::ostringstream s;
  if (r.size == std::floor(r.size) && std::fabs(r.size) < 1e15)
    s << static_cast<long long>(r.size);
  else
    s << std::setprecision(6) << r.size;
  if (!r.size_unit.empty()) s << ' ' << r.size_unit;
  return s.str();
}

std::string median_text(double v) { return std::isnan(v) ? "-" : time_format(v); }

std::string change_text(double change) {
  if (std::isnan(change)) return "-";
  if (std::isinf(change)) return "+inf%";
  return (change >= 0 ? "+" : "") + fixed(change * 100, 1) + "%";
}

std::string p_text(double p) {
  if (std::isnan(p)) return "-";
  if (p < 0.001) return "<0.001";
  return fixed(p, 3);
}

std::string percent_text(double percent) {
  std::ostringstream s;
  s << percent << '%';
  return s.str();
}

}  // namespace

comparison compare_reports(const nlohmann::json& old_doc, const nlohmann::json& new_doc, double fail_above_percent,
                           double alpha) {
  if (!std::isfinite(fail_above_percent) || fail_above_percent < 0)
    throw usage_error("--fail-above must be a percentage >= 0");
  if (!(alpha > 0 && alpha < 1)) throw usage_error("the significance level must lie between 0 and 1");
  std::vector<entry> old_entries;
  try {
    old_entries = read_entries(old_doc);
  } catch (const usage_error& e) {
    throw usage_error(std::string("the old report: ") + e.what());
  }
  std::vector<entry> new_entries;
  try {
    new_entries = read_entries(new_doc);
  } catch (const usage_error& e) {
    throw usage_error(std::string("the new report: ") + e.what());
  }

  std::map<key, std::deque<std::size_t>> unmatched_old;
  for (std::size_t i = 0; i < old_entries.size(); ++i) unmatched_old[key_of(old_entries[i])].push_back(i);
  std::vector<bool> matched(old_entries.size(), false);

  comparison c;
  c.fail_above_percent = fail_above_percent;
  c.alpha = alpha;
  for (const entry& e : new_entries) {
    comparison_row r = row_of(e);
    auto it = unmatched_old.find(key_of(e));
    if (it == unmatched_old.end() || it->second.empty()) {
      r.new_median = e.median;
      r.verdict = "new";
    } else {
      const std::size_t i = it->second.front();
      it->second.pop_front();
      matched[i] = true;
      decide(r, old_entries[i], e, fail_above_percent, alpha);
    }
    c.any_regressed = c.any_regressed || r.regressed;
    c.rows.push_back(std::move(r));
  }
  for (std::size_t i = 0; i < old_entries.size(); ++i) {
    if (matched[i]) continue;
    comparison_row r = row_of(old_entries[i]);
    r.old_median = old_entries[i].median;
    r.verdict = "gone";
    c.rows.push_back(std::move(r));
  }
  return c;
}

nlohmann::json read_report_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw usage_error("cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw usage_error("cannot read '" + path + "': " + std::strerror(errno));
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text.str());
  } catch (const nlohmann::json::parse_error& e) {
    // The parser's words without its "[json.exception.parse_error.101] " tag.
    std::string what = e.what();
    if (const auto close = what.find("] "); what.rfind("[json.exception", 0) == 0 && close != std::string::npos)
      what = what.substr(close + 2);
    throw usage_error("'" + path + "' is not JSON: " + what);
  }
  try {
    (void)read_entries(doc);
  } catch (const usage_error& e) {
    throw usage_error("'" + path + "' is not a Tandem report: " + e.what());
  }
  return doc;
}

void print_comparison(std::ostream& out, const comparison& c) {
  const std::vector<std::string> head = {"workload", "case", "size",    "backend", "old median", "new median",
                                         "change",   "p",    "verdict", "test"};
  std::vector<std::vector<std::string>> cells;
  for (const comparison_row& r : c.rows)
    cells.push_back({r.workload, r.case_name.empty() ? "-" : r.case_name, size_text(r), r.backend,
                     median_text(r.old_median), median_text(r.new_median), change_text(r.change), p_text(r.p_value),
                     r.verdict, r.test.empty() ? "-" : r.test});
  std::vector<std::size_t> width(head.size());
  for (std::size_t k = 0; k < head.size(); ++k) {
    width[k] = head[k].size();
    for (const auto& row : cells) width[k] = std::max(width[k], row[k].size());
  }
  // Text columns to the left, numbers to the right, so digits line up.
  const auto numeric = [](std::size_t k) { return k == 2 || (k >= 4 && k <= 7); };
  const auto print_line = [&](const std::vector<std::string>& row, const char* marker) {
    std::string line;
    for (std::size_t k = 0; k < row.size(); ++k) {
      const std::string pad(width[k] - row[k].size(), ' ');
      line += numeric(k) ? pad + row[k] : row[k] + pad;
      line += "  ";
    }
    line += marker;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  print_line(head, "");
  for (std::size_t i = 0; i < cells.size(); ++i) print_line(cells[i], c.rows[i].regressed ? "REGRESSED" : "");

  std::map<std::string, std::size_t> count;
  std::size_t regressions = 0;
  for (const comparison_row& r : c.rows) {
    ++count[r.verdict];
    regressions += r.regressed ? 1 : 0;
  }
  out << count["slower"] << " slower, " << count["faster"] << " faster, " << count["same"] << " same";
  if (count["new"]) out << ", " << count["new"] << " new";
  if (count["gone"]) out << ", " << count["gone"] << " gone";
  out << "; regressions above " << percent_text(c.fail_above_percent) << ": " << regressions << '\n';
}

nlohmann::json comparison_json(const comparison& c) {
  const auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json rows = nlohmann::json::array();
  nlohmann::json counts = {{"faster", 0}, {"slower", 0}, {"same", 0}, {"new", 0}, {"gone", 0}};
  for (const comparison_row& r : c.rows) {
    rows.push_back({{"workload", r.workload},
                    {"case", r.case_name},
                    {"size", number(r.size)},
                    {"size_unit", r.size_unit},
                    {"backend", r.backend},
                    {"old_median", number(r.old_median)},
                    {"new_median", number(r.new_median)},
                    {"change", number(r.change)},
                    {"p_value", number(r.p_value)},
                    {"test", r.test},
                    {"verdict", r.verdict},
                    {"regressed", r.regressed}});
    counts[r.verdict] = counts.value(r.verdict, 0) + 1;
  }
  return {{"fail_above_percent", c.fail_above_percent},
          {"alpha", c.alpha},
          {"any_regressed", c.any_regressed},
          {"counts", counts},
          {"rows", rows}};
}

}  // namespace tandem
