#include "tandem/gpu/runtime.hpp"

#include <string>

namespace tandem::gpu {

error::error(const char* call, const char* file, int line, const char* name, const char* what_text)
    : std::runtime_error(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " + name + " (" +
                         what_text + ")") {}

void throw_error(const char* call, const char* file, int line, const char* name, const char* text) {
  throw error(call, file, line, name, text);
}

const char* curand_status_name(curandStatus_t status) noexcept {
  switch (status) {
    case CURAND_STATUS_SUCCESS: return "CURAND_STATUS_SUCCESS";
    case CURAND_STATUS_VERSION_MISMATCH: return "CURAND_STATUS_VERSION_MISMATCH";
    case CURAND_STATUS_NOT_INITIALIZED: return "CURAND_STATUS_NOT_INITIALIZED";
    case CURAND_STATUS_ALLOCATION_FAILED: return "CURAND_STATUS_ALLOCATION_FAILED";
    case CURAND_STATUS_TYPE_ERROR: return "CURAND_STATUS_TYPE_ERROR";
    case CURAND_STATUS_OUT_OF_RANGE: return "CURAND_STATUS_OUT_OF_RANGE";
    case CURAND_STATUS_LENGTH_NOT_MULTIPLE: return "CURAND_STATUS_LENGTH_NOT_MULTIPLE";
    case CURAND_STATUS_DOUBLE_PRECISION_REQUIRED: return "CURAND_STATUS_DOUBLE_PRECISION_REQUIRED";
    case CURAND_STATUS_LAUNCH_FAILURE: return "CURAND_STATUS_LAUNCH_FAILURE";
    case CURAND_STATUS_PREEXISTING_FAILURE: return "CURAND_STATUS_PREEXISTING_FAILURE";
    case CURAND_STATUS_INITIALIZATION_FAILED: return "CURAND_STATUS_INITIALIZATION_FAILED";
    case CURAND_STATUS_ARCH_MISMATCH: return "CURAND_STATUS_ARCH_MISMATCH";
    case CURAND_STATUS_INTERNAL_ERROR: return "CURAND_STATUS_INTERNAL_ERROR";
  }
  return "CURAND_STATUS_UNKNOWN";
}

stream_pool::stream_pool(std::size_t count) {
  if (count == 0) count = 1;
  streams_.reserve(count);
  try {
    for (std::size_t i = 0; i < count; ++i) {
      cudaStream_t s = nullptr;
      TANDEM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      streams_.push_back(s);
    }
  } catch (...) {
    for (cudaStream_t s : streams_) cudaStreamDestroy(s);
    throw;
  }
}

stream_pool::~stream_pool() {
  for (cudaStream_t s : streams_) cudaStreamDestroy(s);
}

void stream_pool::synchronize() const {
  for (cudaStream_t s : streams_) TANDEM_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace tandem::gpu
