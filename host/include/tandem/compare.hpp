// `tandem bench --compare OLD.json`: each result of this run against the same result of an older
// report (schema_version 1 or 2), called faster, slower or same by a Mann-Whitney U test on the
// two runs' samples, and a regression when it is slower by more than --fail-above percent.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem {

struct comparison_row {
  std::string workload, case_name, backend;
  // NaN when the result has no size (schema 1, or a workload without a ladder).
  double size = std::numeric_limits<double>::quiet_NaN();
  std::string size_unit;
  // Seconds; NaN on the side a "new" or "gone" row lacks.
  double old_median = std::numeric_limits<double>::quiet_NaN();
  double new_median = std::numeric_limits<double>::quiet_NaN();
  // new / old - 1 (0.2: 20% slower); NaN for new and gone rows.
  double change = std::numeric_limits<double>::quiet_NaN();
  // NaN when no test ran ("too few runs", new, gone).
  double p_value = std::numeric_limits<double>::quiet_NaN();
  std::string test;     // "Mann-Whitney U (exact)", "... (normal approx.)", "too few runs", ""
  std::string verdict;  // "faster", "slower", "same", "new" (only in new), "gone" (only in old)
  bool regressed = false;  // slower, by more than fail_above_percent
};

struct comparison {
  std::vector<comparison_row> rows;  // the new report's order, then the gone rows in the old one's
  bool any_regressed = false;
  double fail_above_percent = 0;
  double alpha = 0.05;
};

// Matches results by (workload, case, size, backend); a key that occurs more than once on a side
// pairs its occurrences in order. A result whose samples cannot reach significance at alpha
// (fewer than 3 on a side, none in the document, or too few for any arrangement to give
// p < alpha) is decided from the medians alone: slower or faster when the change passes
// fail_above_percent, "same" otherwise, with test "too few runs".
// A malformed document (not an object, schema_version not 1 or 2, no "results" array, a result
// without workload, backend or a non-negative time_s.median, samples that are not numbers)
// throws usage_error naming what is wrong, e.g. "results[3] has no time_s.median"; so does a
// fail_above_percent or alpha out of range.
comparison compare_reports(const nlohmann::json& old_doc, const nlohmann::json& new_doc, double fail_above_percent,
                           double alpha = 0.05);

// Reads and checks a report file; throws usage_error "cannot read 'PATH': <strerror>",
// "'PATH' is not JSON: <parser's words>" or "'PATH' is not a Tandem report: <what is wrong>".
nlohmann::json read_report_file(const std::string& path);

// The table (workload, case, size, backend, old and new median, change %, p, test, verdict, a
// REGRESSED marker) and a last line: "2 slower, 1 faster, 10 same; regressions above 5%: 1".
void print_comparison(std::ostream& out, const comparison& c);

// For --json: { "fail_above_percent", "alpha", "any_regressed", "counts": {verdict: n},
//               "rows": [ { "workload", "case", "size" (null when absent), "size_unit", "backend",
//                           "old_median", "new_median", "change", "p_value", "test", "verdict",
//                           "regressed" } ] }   (NaN is written as null)
nlohmann::json comparison_json(const comparison& c);

}  // namespace tandem
