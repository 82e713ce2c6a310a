#include "tandem/env.hpp"

#include <cstdlib>
#include <limits>

#include "tandem/errors.hpp"
#include "tandem/shared_buffer.hpp"

namespace tandem {

namespace {
[[noreturn]] void bad_value(std::string_view name, std::string_view value, const std::string& takes) {
  throw usage_error(std::string(name) + ": '" + std::string(value) + "' is not " + takes);
}

const char* value_of(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}
}  // namespace

std::uint64_t parse_bytes(std::string_view name, std::string_view value, std::uint64_t min, std::uint64_t max) {
  const std::string takes = "a byte count from " + std::to_string(min) + " to " + std::to_string(max) +
                            " (digits, optionally followed by K, M, G or T)";
  std::string_view digits = value;
  unsigned shift = 0;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 'K': case 'k': shift = 10; break;
      case 'M': case 'm': shift = 20; break;
      case 'G': case 'g': shift = 30; break;
      case 'T': case 't': shift = 40; break;
      default: break;
    }
    if (shift != 0) digits.remove_suffix(1);
  }
  if (digits.empty()) bad_value(name, value, takes);
  std::uint64_t n = 0;
  constexpr std::uint64_t top = std::numeric_limits<std::uint64_t>::max();
  for (const char c : digits) {
    if (c < '0' || c > '9') bad_value(name, value, takes);
    const auto d = std::uint64_t(c - '0');
    if (n > (top - d) / 10) bad_value(name, value, takes);
    n = n * 10 + d;
  }
  if (shift != 0 && n > (top >> shift)) bad_value(name, value, takes);
  n <<= shift;
  if (n < min || n > max) bad_value(name, value, takes);
  return n;
}

bool parse_switch(std::string_view name, std::string_view value) {
  if (value.empty() || value == "0") return false;
  if (value == "1") return true;
  bad_value(name, value, "0 or 1");
}

std::optional<std::uint64_t> env_bytes(const char* name, std::uint64_t min, std::uint64_t max) {
  const char* v = value_of(name);
  if (!v) return std::nullopt;
  return parse_bytes(name, v, min, max);
}

bool env_switch(const char* name) {
  const char* v = value_of(name);
  return v && parse_switch(name, v);
}

std::string gpu_disabled_by_environment() {
  try {
    return env_switch("TANDEM_DISABLE_GPU") ? "disabled by TANDEM_DISABLE_GPU" : "";
  } catch (const usage_error& e) {
    return e.what();
  }
}

void check_environment() {
  (void)env_bytes("TANDEM_SHARED_ARENA_BYTES", shared_arena::min_bytes, shared_arena::max_bytes);
  (void)env_switch("TANDEM_DISABLE_GPU");
}

}  // namespace tandem
