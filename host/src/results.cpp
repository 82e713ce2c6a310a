// Comparing two backends' answers: shared by every workload, with the workload's tolerance.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>

#include "tandem/workload.hpp"

namespace tandem {

namespace {
std::string show(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

agreement differ(const std::string& path, const nlohmann::json& a, const nlohmann::json& b) {
  return {false, (path.empty() ? std::string("/") : path) + ": " + show(a) + " vs " + show(b)};
}

bool same_number(double x, double y, const tolerance& t) {
  // Zero tolerance means the same bits: -0 and +0 differ, as they would in a later computation.
  if (t.relative == 0) return std::bit_cast<std::uint64_t>(x) == std::bit_cast<std::uint64_t>(y);
  if (x == y) return true;
  return std::fabs(x - y) <= t.relative * std::fmax(std::fabs(x), std::fabs(y));
}

agreement compare(const nlohmann::json& a, const nlohmann::json& b, const tolerance& t, const std::string& path) {
  if (a.is_number_float() || b.is_number_float()) {
    if (!a.is_number() || !b.is_number()) return differ(path, a, b);
    if (!same_number(a.get<double>(), b.get<double>(), t)) return differ(path, a, b);
    return {};
  }
  if (a.is_object() && b.is_object()) {
    auto compared = [&](const std::string& key) {
      return std::find(t.not_compared.begin(), t.not_compared.end(), key) == t.not_compared.end();
    };
    for (auto it = b.begin(); it != b.end(); ++it)
      if (compared(it.key()) && !a.contains(it.key())) return differ(path + "/" + it.key(), nullptr, it.value());
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!compared(it.key())) continue;
      if (!b.contains(it.key())) return differ(path + "/" + it.key(), it.value(), nullptr);
      if (agreement r = compare(it.value(), b.at(it.key()), t, path + "/" + it.key()); !r.same) return r;
    }
    return {};
  }
  if (a.is_array() && b.is_array()) {
    if (a.size() != b.size()) return differ(path, a, b);
    for (std::size_t i = 0; i < a.size(); ++i)
      if (agreement r = compare(a[i], b[i], t, path + "/" + std::to_string(i)); !r.same) return r;
    return {};
  }
  if (a != b) return differ(path, a, b);
  return {};
}
}  // namespace

run_context cpu_context(executor& ex) {
  run_context ctx;
  ctx.which = parse_backend(ex.name()).value_or(backend::seq);
  ctx.workers = ex.workers();
  ctx.cpu = &ex;
  return ctx;
}

agreement compare_results(const nlohmann::json& a, const nlohmann::json& b, const tolerance& t) {
  return compare(a, b, t, "");
}

}  // namespace tandem
