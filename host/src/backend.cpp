#include "tandem/backend.hpp"

#include <algorithm>
#include <thread>

#include "tandem/errors.hpp"
#include "tandem/executors.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/process_pool.hpp"

namespace tandem {

namespace {
bool is_backend_name(std::string_view name) {
  return std::find(std::begin(backend_names), std::end(backend_names), name) != std::end(backend_names);
}

std::string known_names() {
  std::string s;
  for (std::string_view n : backend_names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}
}  // namespace

std::vector<std::string> parse_backend_list(std::string_view text) {
  std::vector<std::string> names;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string name(text.substr(pos, comma - pos));
    if (name.empty()) throw usage_error("empty backend name in '" + std::string(text) + "'");
    if (!is_backend_name(name))
      throw usage_error("unknown backend '" + name + "' (choose from " + known_names() + ")");
    if (std::find(names.begin(), names.end(), name) != names.end())
      throw usage_error("backend '" + name + "' is listed twice");
    names.push_back(name);
    pos = comma + 1;
  }
  return names;
}

backend_status backend_availability(std::string_view name) {
  if (name == "seq" || name == "threads") return {true, {}};
  if (name == "procs") return {true, {}};  // process_pool: fork, futex and MAP_SHARED (Linux)
  if (name == "gpu") {
    const auto& d = gpu::discover();
    if (!d.devices.empty()) return {true, {}};
    return {false, d.reason};
  }
  if (name == "auto") return {true, {}};
  throw usage_error("unknown backend '" + std::string(name) + "' (choose from " + known_names() + ")");
}

backend_choice resolve_backend(std::string_view name) {
  if (!is_backend_name(name))
    throw usage_error("unknown backend '" + std::string(name) + "' (choose from " + known_names() + ")");
  if (name != "auto") return {std::string(name), {}};
  const auto gpu = backend_availability("gpu");
  if (gpu.available) return {"gpu", "auto chose gpu: " + gpu::discover().devices.front().name};
  return {"threads", "auto chose threads: " + gpu.reason};
}

unsigned default_workers(std::string_view backend) {
  if (backend == "threads" || backend == "procs") return std::max(1u, std::thread::hardware_concurrency());
  return 1;
}

std::unique_ptr<executor> make_executor(std::string_view backend, unsigned workers) {
  return make_executor(backend, workers, procs_settings{});
}

std::unique_ptr<executor> make_executor(std::string_view backend, unsigned workers, const procs_settings& procs) {
  if (workers == 0) throw usage_error("--workers must be at least 1");
  if (backend == "seq") return std::make_unique<seq_executor>();
  if (backend == "threads") return std::make_unique<thread_executor>(workers);
  if (backend == "procs") {
    if (procs.chunk_timeout < 0) throw usage_error("--chunk-timeout must be >= 0");
    return make_process_pool({workers, procs.max_retries, procs.chunk_timeout});
  }
  throw usage_error("backend '" + std::string(backend) + "' has no CPU executor");
}

}  // namespace tandem
