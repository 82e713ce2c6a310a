// Numbers as people read them in the Markdown report (the HTML page's script formats the same
// way): 3 significant digits, a time unit that keeps the value in [1, 1000), sizes as 1e6.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

namespace tandem::report_detail {

// 2.1 -> "2.10", 31 -> "31.0", 300 -> "300", 12345 -> "12345".
inline std::string three_digits(double v) {
  char buf[64];
  const double a = std::fabs(v);
  const int decimals = a == 0 || !std::isfinite(a) ? 2 : std::max(0, 2 - int(std::floor(std::log10(a))));
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 12), v);
  return buf;
}

inline std::string human_time(double s) {
  if (!std::isfinite(s)) return "-";
  const double a = std::fabs(s);
  if (a >= 1 || a == 0) return three_digits(s) + " s";
  if (a >= 1e-3) return three_digits(s * 1e3) + " ms";
  if (a >= 1e-6) return three_digits(s * 1e6) + " µs";
  return three_digits(s * 1e9) + " ns";
}

// 4000 -> "4000", 1e6 -> "1e6", 2.5e5 -> "2.5e5", 123456 -> "123456", 0.5 -> "0.5".
inline std::string human_size(double v) {
  char buf[64];
  if (!std::isfinite(v)) return "-";
  if (v == std::floor(v) && std::fabs(v) >= 1e4) {
    const int e = int(std::floor(std::log10(std::fabs(v))));
    const double m = v / std::pow(10.0, e);
    // A short mantissa reads better as an exponent; anything longer is shown whole.
    if (std::fabs(m * 100 - std::round(m * 100)) < 1e-9) {
      std::snprintf(buf, sizeof buf, "%ge%d", std::round(m * 100) / 100, e);
      return buf;
    }
  }
  std::snprintf(buf, sizeof buf, v == std::floor(v) && std::fabs(v) < 1e15 ? "%.0f" : "%g", v);
  return buf;
}

// (4.76e9, "rows/s") -> "4.76 G rows/s", (300, "rows/s") -> "300 rows/s"; with bytes, "4.76 GB".
inline std::string human_si(double v, const std::string& unit, bool bytes = false) {
  static const char* prefixes[] = {"", "k", "M", "G", "T", "P", "E"};
  int p = 0;
  while (std::fabs(v) >= 999.5 && p < 6) {
    v /= 1000;
    ++p;
  }
  return three_digits(v) + " " + prefixes[p] + (p && !bytes ? " " : "") + unit;
}

}  // namespace tandem::report_detail
