// The machine header every report carries: CPU, caches, GPUs (or why none) and build features.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/gpu/device.hpp"

namespace tandem {

struct cache_level {
  int level = 0;
  std::string type;  // Data, Instruction, Unified
  std::size_t bytes = 0;
  unsigned shared_by = 0;  // logical CPUs sharing one instance
};

struct build_features {
  std::string version;
  bool cuda = false;
  std::string cuda_architectures;
  std::string cuda_compiler;
  bool blas = false;
  std::string blas_name;
  bool mpi = false;
  std::string cxx_compiler;
  // `git rev-parse --short HEAD` when CMake configured the build, "-dirty" appended when tracked
  // files differed from it then; "unknown" when the source was not a git checkout.
  std::string git_revision;
  // Name and version of each library this build uses, as loaded at run time where the library
  // says (OpenBLAS's config, cuBLAS, MPI, the CUDA runtime and driver): filled by
  // describe_machine(), empty from this_build() (which --version calls, and which must not load
  // libraries).
  std::vector<std::pair<std::string, std::string>> libraries;
};

struct machine_info {
  std::string cpu_model;
  unsigned logical_cores = 0;
  unsigned physical_cores = 0;
  std::string simd;  // best vector extension this CPU supports, e.g. "AVX-512", "AVX2"
  std::vector<cache_level> caches;
  std::string os;
  gpu::discovery gpus;
  build_features build;
};

machine_info describe_machine();
// The CPU's caches as cpu0 sees them (sysfs), smallest level first; empty when the system does not say.
std::vector<cache_level> cpu_caches();
// The libraries' names and versions of build_features::libraries.
std::vector<std::pair<std::string, std::string>> library_versions(const gpu::discovery& gpus);
// Bytes of physical memory (sysconf), or 0 when the system does not say. The limit on inputs a
// workload holds in memory (gemm's matrices, reduce's generated arrays) is 3/4 of it.
std::uint64_t physical_memory_bytes() noexcept;
build_features this_build();
nlohmann::json to_json(const machine_info& m);
void print_machine(std::ostream& out, const machine_info& m);

}  // namespace tandem
