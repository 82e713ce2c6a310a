// cuBLAS handles for the device context, through the dynamic loader: a program linked with
// cuBLAS (one that calls a cuBLAS function itself) already has the symbols; any other program
// opens libcublas on the first blas() call. Either way the context alone never makes libcublas a
// start-up dependency (host/CMakeLists.txt links with --as-needed).
#include <cublas_v2.h>
#include <dlfcn.h>

#include <mutex>
#include <string>

#include "blas.hpp"
#include "tandem/gpu/runtime.hpp"

namespace tandem::gpu::detail {

namespace {
struct cublas_entry_points {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasGetProperty) get_property = nullptr;  // may be null where create is not
  std::string error;  // why cuBLAS could not be found, when create is null
};

template <class F>
F find(void* library, const char* name) {
  return reinterpret_cast<F>(dlsym(library, name));
}

const cublas_entry_points& entry_points() {
  static const cublas_entry_points e = [] {
    cublas_entry_points r;
    void* library = RTLD_DEFAULT;
    if (!dlsym(RTLD_DEFAULT, "cublasCreate_v2")) {
      const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
      library = dlopen(soname.c_str(), RTLD_NOW | RTLD_GLOBAL);
      if (!library) {
        const char* why = dlerror();
        r.error = soname + ": " + (why ? why : "not found");
        return r;
      }
    }
    r.create = find<decltype(r.create)>(library, "cublasCreate_v2");
    r.destroy = find<decltype(r.destroy)>(library, "cublasDestroy_v2");
    r.get_property = find<decltype(r.get_property)>(library, "cublasGetProperty");
    if (!r.create || !r.destroy) {
      r.create = nullptr;
      r.error = "libcublas has no cublasCreate_v2/cublasDestroy_v2";
    }
    return r;
  }();
  return e;
}
}  // namespace

void* create_blas_handle() {
  const cublas_entry_points& e = entry_points();
  if (!e.create) throw_error("dlopen(libcublas)", __FILE__, __LINE__, "CUBLAS_NOT_LOADED", e.error.c_str());
  cublasHandle_t h = nullptr;
  const cublasStatus_t status = e.create(&h);
  // cublasGetStatusName would bind libcublas at start-up; the number names the status instead.
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_error("cublasCreate(&handle)", __FILE__, __LINE__, "cuBLAS status", std::to_string(int(status)).c_str());
  return h;
}

std::string cublas_version() {
  const std::string built = std::to_string(CUBLAS_VER_MAJOR) + "." + std::to_string(CUBLAS_VER_MINOR) + "." +
                            std::to_string(CUBLAS_VER_PATCH);
  const cublas_entry_points& e = entry_points();
  if (!e.create) return "not loadable: " + e.error + " (built against " + built + ")";
  int v[3] = {};
  const libraryPropertyType parts[3] = {MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL};
  for (int i = 0; i < 3; ++i)
    if (!e.get_property || e.get_property(parts[i], &v[i]) != CUBLAS_STATUS_SUCCESS)
      return "unknown (cublasGetProperty failed; built against " + built + ")";
  return std::to_string(v[0]) + "." + std::to_string(v[1]) + "." + std::to_string(v[2]);
}

void destroy_blas_handle(void* handle) noexcept {
  if (handle && entry_points().destroy) entry_points().destroy(static_cast<cublasHandle_t>(handle));
}

}  // namespace tandem::gpu::detail
