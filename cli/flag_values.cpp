// Flag values read strictly. CLI11 on its own reads "-1" into an unsigned flag as its largest
// value, takes "0x10" as 16 and lets "nan" through a Range check (every comparison with nan is
// false). These validators look at the text before CLI11 converts it, so only a plain decimal
// number in range reaches the flag.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <string>
#include <system_error>

#include "cli.hpp"
#include "tandem/errors.hpp"

namespace tandem::cli {

namespace {
std::string shown(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}
}  // namespace

CLI::Validator whole_number(std::uint64_t min, std::uint64_t max) {
  const std::string range = std::to_string(min) + " to " + std::to_string(max);
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        const std::string want = "must be a whole number from " + range + " (got '" + text + "')";
        if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return want;
        std::uint64_t v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return want;
        return {};
      },
      "UINT in [" + std::to_string(min) + " - " + std::to_string(max) + "]");
}

CLI::Validator finite_number(double min, double max) {
  const bool bounded = std::isfinite(min) || std::isfinite(max);
  const std::string range = bounded ? " from " + shown(min) + " to " + shown(max) : "";
  return CLI::Validator(
      [min, max, range](std::string& text) -> std::string {
        const std::string want = "must be a finite number" + range + " (got '" + text + "')";
        double v = 0;
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < min ||
            v > max)
          return want;
        return {};
      },
      bounded ? "FLOAT in [" + shown(min) + " - " + shown(max) + "]" : "FINITE");
}

CLI::Validator non_empty() {
  return CLI::Validator([](std::string& text) -> std::string { return text.empty() ? "must not be empty" : ""; },
                        "");
}

void refuse_given(std::string_view command, std::initializer_list<const CLI::Option*> flags, std::string_view why) {
  for (const CLI::Option* f : flags)
    if (f->count() > 0) throw usage_error(std::string(command) + ": " + f->get_name() + " " + std::string(why));
}

}  // namespace tandem::cli
