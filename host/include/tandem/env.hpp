// Settings read from the environment, parsed strictly: the whole value must be what the variable
// takes and lie in its range, or a usage_error names the variable, the value and what it takes.
// A typo then stops the program with one clear line instead of changing what it does (std::stoull
// reads "1e9" as 1 and reports "abc" as a bare "stoull").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tandem {

// A byte count: decimal digits, optionally followed by one of K, M, G, T (binary: 2^10 .. 2^40;
// either case), within [min, max]. Unset or empty: std::nullopt.
std::optional<std::uint64_t> env_bytes(const char* name, std::uint64_t min, std::uint64_t max);
// A switch: unset, empty or "0" is off; "1" is on; anything else is a usage_error.
bool env_switch(const char* name);

// The parsers behind them, for a value already in hand; `name` is only for the message.
std::uint64_t parse_bytes(std::string_view name, std::string_view value, std::uint64_t min, std::uint64_t max);
bool parse_switch(std::string_view name, std::string_view value);

// Why TANDEM_DISABLE_GPU hides the GPUs ("disabled by TANDEM_DISABLE_GPU", or the message of a
// malformed value, which hides them too), or "" when it does not. Never throws: GPU discovery
// reports it as its reason.
std::string gpu_disabled_by_environment();

// Checks every variable the library reads (TANDEM_SHARED_ARENA_BYTES, TANDEM_DISABLE_GPU), so that
// a program can refuse a bad value before it starts any work. Throws usage_error.
void check_environment();

}  // namespace tandem
