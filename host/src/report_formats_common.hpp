// What the CSV, Markdown and HTML renderers share: tolerant reads of the report document (any
// field may be missing or null) and the order in which its results are shown.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tandem::report_detail {

using json = nlohmann::json;

inline const json& field(const json& j, const char* key) {
  static const json null_value;
  if (!j.is_object()) return null_value;
  auto it = j.find(key);
  return it == j.end() ? null_value : *it;
}

inline std::string text(const json& j, const char* key) {
  const json& v = field(j, key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

inline std::optional<double> number(const json& j, const char* key) {
  const json& v = field(j, key);
  if (v.is_number()) return v.get<double>();
  return std::nullopt;
}

// A JSON number as machines read it back: integers as integers, doubles in the shortest form that
// round-trips (std::to_chars); anything else is "".
inline std::string machine_number(const json& v) {
  if (v.is_number_integer()) return v.dump();
  if (!v.is_number_float()) return "";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v.get<double>());
  return std::string(buf, r.ptr);
}

inline std::optional<double> median_of(const json& record) { return number(field(record, "time_s"), "median"); }

// A workload case, in the order it first appears in the document.
struct case_key {
  std::string workload, case_name;
  bool operator==(const case_key&) const = default;
};

inline case_key key_of(const json& j) { return {text(j, "workload"), text(j, "case")}; }

inline std::vector<case_key> cases_of(const json& doc) {
  std::vector<case_key> out;
  auto add = [&](const json& list) {
    if (!list.is_array()) return;
    for (const json& j : list) {
      case_key k = key_of(j);
      bool seen = false;
      for (const case_key& o : out) seen = seen || o == k;
      if (!seen) out.push_back(std::move(k));
    }
  };
  add(field(doc, "results"));
  add(field(doc, "peers"));
  add(field(doc, "skipped"));
  return out;
}

// Sizes ascending; a record without a size sorts first.
inline bool size_less(const json& a, const json& b) {
  const auto x = number(a, "size"), y = number(b, "size");
  if (!x || !y) return !x && y;
  return *x < *y;
}

}  // namespace tandem::report_detail

namespace tandem::report_detail {

// The unit of a case's sizes, from any record of it that names one (peers do not).
inline std::string size_unit_of(const json& doc, const case_key& k) {
  for (const char* list : {"results", "skipped", "crossovers"}) {
    const json& l = field(doc, list);
    if (!l.is_array()) continue;
    for (const json& j : l)
      if (key_of(j) == k && field(j, "size_unit").is_string()) return text(j, "size_unit");
  }
  return "";
}

}  // namespace tandem::report_detail
