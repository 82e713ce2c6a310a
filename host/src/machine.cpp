#include "tandem/machine.hpp"
#include "tandem/ranks.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "tandem/build_config.hpp"

namespace tandem {

namespace {
namespace fs = std::filesystem;

std::string read_line(const fs::path& p) {
  std::ifstream in(p);
  std::string s;
  std::getline(in, s);
  return s;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

unsigned physical_cores() {
  // Distinct (package, core) pairs among the online CPUs.
  std::set<std::pair<std::string, std::string>> cores;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("cpu", 0) != 0 || name.size() < 4 || name.find_first_not_of("0123456789", 3) != std::string::npos)
      continue;
    const std::string core = read_line(e.path() / "topology/core_id");
    if (core.empty()) continue;
    cores.emplace(read_line(e.path() / "topology/physical_package_id"), core);
  }
  return static_cast<unsigned>(cores.size());
}

std::string simd_level() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return "AVX-512";
  if (__builtin_cpu_supports("avx2")) return __builtin_cpu_supports("fma") ? "AVX2+FMA" : "AVX2";
  if (__builtin_cpu_supports("avx")) return "AVX";
  if (__builtin_cpu_supports("sse4.2")) return "SSE4.2";
  return "SSE2";
#elif defined(__aarch64__)
  return "NEON";
#else
  return "none known";
#endif
}

std::size_t parse_size(const std::string& s) {
  // "48K", "2048K", "32M"
  std::size_t v = 0;
  std::size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') v = v * 10 + static_cast<std::size_t>(s[i++] - '0');
  if (i < s.size() && s[i] == 'K') v <<= 10;
  if (i < s.size() && s[i] == 'M') v <<= 20;
  return v;
}

std::vector<cache_level> caches() {
  std::vector<cache_level> out;
  const fs::path base = "/sys/devices/system/cpu/cpu0/cache";
  for (int i = 0; i < 8; ++i) {
    const fs::path idx = base / ("index" + std::to_string(i));
    if (!fs::exists(idx)) break;
    cache_level c;
    c.level = std::stoi("0" + read_line(idx / "level"));
    c.type = read_line(idx / "type");
    c.bytes = parse_size(read_line(idx / "size"));
    const std::string shared = read_line(idx / "shared_cpu_list");
    // "0-1" or "0,2": count CPUs in the list.
    unsigned count = 0;
    std::stringstream ss(shared);
    for (std::string part; std::getline(ss, part, ',');) {
      const auto dash = part.find('-');
      if (dash == std::string::npos) {
        if (!part.empty()) ++count;
      } else {
        count += static_cast<unsigned>(std::stoul(part.substr(dash + 1)) - std::stoul(part.substr(0, dash)) + 1);
      }
    }
    c.shared_by = count;
    out.push_back(c);
  }
  return out;
}

std::string os_name() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

std::string human_bytes(std::size_t b) {
  std::ostringstream s;
  if (b >= (std::size_t{1} << 30)) s << std::fixed << std::setprecision(1) << double(b) / double(1u << 30) << " GiB";
  else if (b >= (std::size_t{1} << 20)) s << b / (std::size_t{1} << 20) << " MiB";
  else s << b / 1024 << " KiB";
  return s.str();
}
}  // namespace

build_features this_build() {
  build_features b;
  b.version = TANDEM_VERSION_STRING;
  b.cuda = TANDEM_WITH_CUDA != 0;
  b.cuda_architectures = TANDEM_CUDA_ARCHITECTURES;
  b.cuda_compiler = TANDEM_CUDA_COMPILER_VERSION;
  b.blas = TANDEM_WITH_BLAS != 0;
  b.blas_name = TANDEM_BLAS_NAME;
  b.mpi = TANDEM_WITH_MPI != 0;
#if defined(__clang__)
  b.cxx_compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  b.cxx_compiler = "g++ " __VERSION__;
#else
  b.cxx_compiler = "unknown";
#endif
  return b;
}

machine_info describe_machine() {
  machine_info m;
  m.cpu_model = cpu_model();
  m.logical_cores = std::thread::hardware_concurrency();
  m.physical_cores = physical_cores();
  m.simd = simd_level();
  m.caches = caches();
  m.os = os_name();
  m.gpus = gpu::discover();
  m.build = this_build();
  return m;
}

nlohmann::json to_json(const machine_info& m) {
  nlohmann::json caches = nlohmann::json::array();
  for (const auto& c : m.caches)
    caches.push_back({{"level", c.level}, {"type", c.type}, {"bytes", c.bytes}, {"shared_by", c.shared_by}});
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& d : m.gpus.devices)
    gpus.push_back({{"index", d.index},
                    {"name", d.name},
                    {"compute_capability", std::to_string(d.cc_major) + "." + std::to_string(d.cc_minor)},
                    {"multiprocessors", d.multiprocessors},
                    {"memory_bytes", d.total_memory}});
  nlohmann::json gpu = {{"devices", gpus},
                        {"driver", gpu::version_string(m.gpus.driver_version)},
                        {"runtime", gpu::version_string(m.gpus.runtime_version)}};
  if (m.gpus.devices.empty()) gpu["reason"] = m.gpus.reason;
  return {{"cpu",
           {{"model", m.cpu_model},
            {"logical_cores", m.logical_cores},
            {"physical_cores", m.physical_cores},
            {"simd", m.simd},
            {"caches", caches}}},
          {"os", m.os},
          {"gpu", gpu},
          {"mpi", ranks::to_json(ranks::world())},
          {"build",
           {{"version", m.build.version},
            {"cuda", m.build.cuda},
            {"cuda_architectures", m.build.cuda_architectures},
            {"blas", m.build.blas ? m.build.blas_name : "none"},
            {"mpi", m.build.mpi},
            {"compiler", m.build.cxx_compiler}}}};
}

void print_machine(std::ostream& out, const machine_info& m) {
  out << "CPU:    " << m.cpu_model << "\n"
      << "Cores:  " << m.logical_cores << " logical, " << m.physical_cores << " physical\n"
      << "SIMD:   " << m.simd << "\n"
      << "Caches:";
  if (m.caches.empty()) out << " unknown";
  for (const auto& c : m.caches)
    out << " L" << c.level << (c.type == "Data" ? "d" : c.type == "Instruction" ? "i" : "") << " " << human_bytes(c.bytes)
        << (c.shared_by > 1 ? " (shared by " + std::to_string(c.shared_by) + ")" : "") << ";";
  out << "\nOS:     " << m.os << "\n";
  if (m.gpus.devices.empty()) {
    out << "GPU:    none (" << m.gpus.reason << ")\n";
  } else {
    for (const auto& d : m.gpus.devices)
      out << "GPU " << d.index << ":  " << d.name << ", compute capability " << d.cc_major << "." << d.cc_minor << ", "
          << d.multiprocessors << " SMs, " << human_bytes(d.total_memory) << "\n";
    out << "Driver: CUDA " << gpu::version_string(m.gpus.driver_version) << " (runtime "
        << gpu::version_string(m.gpus.runtime_version) << ")\n";
  }
  out << "Build:  Tandem " << m.build.version << ", " << m.build.cxx_compiler << "\n"
      << "        CUDA: " << (m.build.cuda ? "on (" + m.build.cuda_compiler + ", architectures " + m.build.cuda_architectures + ")" : "off")
      << "\n        BLAS: " << (m.build.blas ? m.build.blas_name : "none") << "\n"
      << "        MPI:  " << (m.build.mpi ? "on" : "off") << "\n";
  if (const ranks::world_info& w = ranks::world(); w.active)
    out << "MPI:    " << w.implementation << ", " << w.size << (w.size == 1 ? " rank" : " ranks") << " ("
        << w.local_size << " on " << w.node << "), thread level " << w.thread_level << "\n";
}

std::uint64_t physical_memory_bytes() noexcept {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? std::uint64_t(pages) * std::uint64_t(page) : 0;
}

}  // namespace tandem
