// Backends are typed values: seq, threads, procs and gpu. `auto` is not a backend but a request,
// resolved per workload and problem size (choose_auto, below). Each backend says whether it can
// run here and, if not, why, in words a user can act on; each workload says which backends it
// supports (workload::supports).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/executor.hpp"

namespace tandem {

enum class backend : std::uint8_t { seq, threads, procs, gpu };

// Every backend, in the order a comparison lists them.
inline constexpr backend all_backends[] = {backend::seq, backend::threads, backend::procs, backend::gpu};

std::string_view to_string(backend b) noexcept;
// "seq" -> backend::seq; nullopt for anything else (including "auto").
std::optional<backend> parse_backend(std::string_view name) noexcept;

// What a user asked for: one backend, or auto.
struct backend_request {
  std::optional<backend> fixed;  // empty: auto
  bool is_auto() const noexcept { return !fixed; }
  std::string name() const { return fixed ? std::string(to_string(*fixed)) : "auto"; }
  friend bool operator==(const backend_request&, const backend_request&) = default;
};

// "seq,threads,auto" -> requests. Throws usage_error on an empty list, an unknown name or a name
// given twice.
std::vector<backend_request> parse_backend_list(std::string_view text);

struct backend_status {
  bool available = false;
  std::string reason;  // why not, when unavailable
  static backend_status yes() { return {true, {}}; }
  static backend_status no(std::string why) { return {false, std::move(why)}; }
};

// Whether a backend can run on this machine and build.
backend_status backend_availability(backend b);

// Workers a backend uses when --workers is not given: the logical cores for the CPU pools, 1 for
// seq and for gpu (one device).
unsigned default_workers(backend b);

// What the procs backend does when a worker dies or a chunk hangs (the other backends ignore it).
struct procs_settings {
  unsigned max_retries = 3;   // extra attempts per chunk; 0: none
  double chunk_timeout = 0;   // seconds; 0: no limit
  double stall_timeout = 60;  // seconds without CPU progress (1 s stopped); 0: never (procs_options)
};

// An executor for a CPU backend (seq, threads, procs), created once and reused across runs.
// Throws unavailable_error when the backend cannot run here, usage_error for gpu or 0 workers.
std::unique_ptr<executor> make_executor(backend b, unsigned workers, const procs_settings& procs = {});

// By name, for programs that embed Tandem: make_executor("threads", 8).
std::unique_ptr<executor> make_executor(std::string_view name, unsigned workers, const procs_settings& procs = {});
unsigned default_workers(std::string_view name);
backend_status backend_availability(std::string_view name);

}  // namespace tandem
