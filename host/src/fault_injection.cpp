#include "fault_injection.hpp"

#include <stdexcept>

#include <signal.h>
#include <string.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::fault {

namespace {

struct rule {
  std::string point;
  std::uint64_t first = 1, last = 1;  // passes [first, last], counted from 1
  action what;
};

struct state {
  std::mutex mutex;
  std::string text;  // the value the rules were read from
  std::vector<rule> rules;
  std::map<std::string, std::uint64_t, std::less<>> passes;
};

state& the_state() {
  static state s;
  return s;
}

int signal_by_name(std::string_view name) {
  if (name.starts_with("SIG")) name.remove_prefix(3);
  for (int sig = 1; sig < NSIG; ++sig)
    if (const char* abbrev = sigabbrev_np(sig); abbrev && name == abbrev) return sig;
  return 0;
}

std::uint64_t number(std::string_view s, std::uint64_t otherwise) {
  if (s.empty()) return otherwise;
  return std::strtoull(std::string(s).c_str(), nullptr, 10);
}

// Entries that do not parse are ignored: this is a test hook, not user input.
std::vector<rule> parse(std::string_view text) {
  std::vector<rule> rules;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    std::string_view entry = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    const std::size_t colon = entry.rfind(':');
    if (colon == std::string_view::npos) continue;
    std::string_view point = entry.substr(0, colon);
    const std::string_view act = entry.substr(colon + 1);
    rule r;
    if (act == "fail") r.what.fail = true;
    else if (!(r.what.signal = signal_by_name(act))) continue;
    if (const std::size_t at = point.find('@'); at != std::string_view::npos) {
      const std::string_view range = point.substr(at + 1);
      point = point.substr(0, at);
      const std::size_t dash = range.find('-');
      r.first = number(range.substr(0, dash), 1);
      r.last = dash == std::string_view::npos ? r.first : number(range.substr(dash + 1), UINT64_MAX);
    }
    r.point = std::string(point);
    rules.push_back(std::move(r));
  }
  return rules;
}

}  // namespace

action at(const char* point) noexcept {
  const char* env = std::getenv("TANDEM_FAULT");
  state& s = the_state();
  std::lock_guard lock(s.mutex);
  if (!env) env = "";
  if (s.text != env) {
    s.text = env;
    s.rules = parse(s.text);
    s.passes.clear();
  }
  if (s.rules.empty()) return {};
  const std::uint64_t pass = ++s.passes[point];
  for (const rule& r : s.rules)
    if (r.point == point && pass >= r.first && pass <= r.last) return r.what;
  return {};
}

bool hit(const char* point) noexcept {
  const action a = at(point);
  if (a.signal) raise(a.signal);
  return a.fail;
}

}  // namespace tandem::fault

namespace tandem::detail {
void chunk_span_fault_point() {
  if (fault::hit("chunk_span")) throw std::runtime_error("a chunk failed (injected by TANDEM_FAULT=chunk_span)");
}
}  // namespace tandem::detail
