// Backends are names a user types: seq, threads, procs, gpu and auto. Each one says whether it can
// run here and, if not, why, in words a user can act on.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tandem/executor.hpp"

namespace tandem {

// Every name --backend accepts, in the order a comparison lists them.
inline constexpr std::string_view backend_names[] = {"seq", "threads", "procs", "gpu", "auto"};

struct backend_status {
  bool available = false;
  std::string reason;  // why not, when unavailable
};

// "seq,threads,gpu" -> {"seq", "threads", "gpu"}. Throws usage_error on an empty list, an unknown
// name or a name given twice.
std::vector<std::string> parse_backend_list(std::string_view text);

// Whether a concrete backend (not auto) can run on this machine and build.
backend_status backend_availability(std::string_view name);

struct backend_choice {
  std::string name;  // a concrete backend
  std::string note;  // for auto: what it chose and why
};

// auto becomes gpu when a CUDA device is usable and threads otherwise; other names map to
// themselves. Throws usage_error on an unknown name.
backend_choice resolve_backend(std::string_view name);

// Workers a backend uses when --workers is not given: the logical cores for the CPU pools, 1 for
// seq and for gpu (one device).
unsigned default_workers(std::string_view backend);

// What the procs backend does when a worker dies or a chunk hangs (the other backends ignore it).
struct procs_settings {
  unsigned max_retries = 3;  // extra attempts per chunk; 0: none
  double chunk_timeout = 0;  // seconds; 0: no limit
};

// An executor for a CPU backend (seq, threads, procs), created once and reused across runs.
// Throws unavailable_error when the backend cannot run here, usage_error for gpu/auto/unknown.
std::unique_ptr<executor> make_executor(std::string_view backend, unsigned workers);
std::unique_ptr<executor> make_executor(std::string_view backend, unsigned workers, const procs_settings& procs);

}  // namespace tandem
