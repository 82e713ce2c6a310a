#include "tandem/backend.hpp"

#include <algorithm>
#include <thread>

#include "tandem/errors.hpp"
#include "tandem/executors.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/process_pool.hpp"

namespace tandem {

namespace {
constexpr std::string_view names[] = {"seq", "threads", "procs", "gpu"};

std::string known_names() {
  std::string s;
  for (std::string_view n : names) s += std::string(n) + ", ";
  return s + "auto";
}

backend parse_or_throw(std::string_view name) {
  if (const auto b = parse_backend(name)) return *b;
  throw usage_error("unknown backend '" + std::string(name) + "' (choose from " + known_names() + ")");
}
}  // namespace

std::string_view to_string(backend b) noexcept { return names[static_cast<unsigned>(b)]; }

std::optional<backend> parse_backend(std::string_view name) noexcept {
  for (backend b : all_backends)
    if (to_string(b) == name) return b;
  return std::nullopt;
}

std::vector<backend_request> parse_backend_list(std::string_view text) {
  std::vector<backend_request> list;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string name(text.substr(pos, comma - pos));
    if (name.empty()) throw usage_error("empty backend name in '" + std::string(text) + "'");
    const backend_request r = name == "auto" ? backend_request{} : backend_request{parse_or_throw(name)};
    if (std::find(list.begin(), list.end(), r) != list.end())
      throw usage_error("backend '" + name + "' is listed twice");
    list.push_back(r);
    pos = comma + 1;
  }
  return list;
}

backend_status backend_availability(backend b) {
  switch (b) {
    case backend::seq:
    case backend::threads:
    case backend::procs:  // process_pool: fork, futex and MAP_SHARED (Linux)
      return backend_status::yes();
    case backend::gpu: {
      const auto& d = gpu::discover();
      if (!d.devices.empty()) return backend_status::yes();
      return backend_status::no(d.reason);
    }
  }
  return backend_status::no("unknown backend");
}

unsigned default_workers(backend b) {
  if (b == backend::threads || b == backend::procs) return std::max(1u, std::thread::hardware_concurrency());
  return 1;
}
unsigned default_workers(std::string_view name) { return default_workers(parse_or_throw(name)); }
backend_status backend_availability(std::string_view name) { return backend_availability(parse_or_throw(name)); }

std::unique_ptr<executor> make_executor(backend b, unsigned workers, const procs_settings& procs) {
  if (workers == 0) throw usage_error("--workers must be at least 1");
  switch (b) {
    case backend::seq: return std::make_unique<seq_executor>();
    case backend::threads: return std::make_unique<thread_executor>(workers);
    case backend::procs:
      if (!(procs.chunk_timeout >= 0)) throw usage_error("--chunk-timeout must be >= 0");
      if (!(procs.stall_timeout >= 0)) throw usage_error("the stall timeout must be >= 0");
      return make_process_pool({workers, procs.max_retries, procs.chunk_timeout, procs.stall_timeout});
    case backend::gpu: break;
  }
  throw usage_error("backend '" + std::string(to_string(b)) + "' has no CPU executor");
}

std::unique_ptr<executor> make_executor(std::string_view name, unsigned workers, const procs_settings& procs) {
  return make_executor(parse_or_throw(name), workers, procs);
}

}  // namespace tandem
