// The machine header every report carries: CPU, caches, GPUs (or why none) and build features.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
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
// Bytes of physical memory (sysconf), or 0 when the system does not say. The limit on inputs a
// workload holds in memory (gemm's matrices, reduce's generated arrays) is 3/4 of it.
std::uint64_t physical_memory_bytes() noexcept;
build_features this_build();
nlohmann::json to_json(const machine_info& m);
void print_machine(std::ostream& out, const machine_info& m);

}  // namespace tandem
