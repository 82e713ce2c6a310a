// OpenBLAS's cblas_dgemm (or sgemm) called directly, multithreaded, as a peer of `tandem gemm`:
// C = alpha A B + beta C, A m x k and B k x n row-major, generated uniform in [-1, 1) in the set-up;
// a run is one cblas_?gemm call on openblas_set_num_threads(THREADS) threads (Tandem's gemm calls
// the same library per tile).
//
//   tandem-peer-openblas-gemm --m M --n N --k K [--dtype f64|f32] [--alpha 1] [--beta 0]
//                             [--threads T (0: OpenBLAS's default)] [--seed 42]
#include <cblas.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "peer_protocol.hpp"

namespace {
template <class T>
int run(int m, int n, int k, double alpha, double beta, std::uint64_t seed, const std::string& detail) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<T> u(T(-1), T(1));
  std::vector<T> a(std::size_t(m) * std::size_t(k)), b(std::size_t(k) * std::size_t(n)),
      c(std::size_t(m) * std::size_t(n));
  for (T& x : a) x = u(gen);
  for (T& x : b) x = u(gen);
  for (T& x : c) x = u(gen);
  return tandem_peer::serve(detail, [&] {
    if constexpr (sizeof(T) == 8)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, alpha, a.data(), k, b.data(), n, beta,
                  c.data(), n);
    else
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, float(alpha), a.data(), k, b.data(), n,
                  float(beta), c.data(), n);
  });
}
}  // namespace

int main(int argc, char** argv) {
  using tandem_peer::number;
  const int m = number<int>(argc, argv, "--m"), n = number<int>(argc, argv, "--n"), k = number<int>(argc, argv, "--k");
  const std::string dtype = tandem_peer::option(argc, argv, "--dtype", "f64");
  const double alpha = number<double>(argc, argv, "--alpha", "1"), beta = number<double>(argc, argv, "--beta", "0");
  const int threads = number<int>(argc, argv, "--threads", "0");
  const auto seed = number<std::uint64_t>(argc, argv, "--seed", "42");
  if (m < 1 || n < 1 || k < 1 || threads < 0 || (dtype != "f64" && dtype != "f32")) {
    std::cerr << "tandem-peer-openblas-gemm: bad --m/--n/--k/--threads/--dtype\n";
    return 2;
  }
  if (threads > 0) openblas_set_num_threads(threads);
  const std::string detail = std::string(openblas_get_config()) + ", cblas_" +
                             (dtype == "f64" ? "dgemm" : "sgemm") + " on " +
                             std::to_string(openblas_get_num_threads()) + " threads, " + std::to_string(m) + "x" +
                             std::to_string(k) + " by " + std::to_string(k) + "x" + std::to_string(n);
  return dtype == "f64" ? run<double>(m, n, k, alpha, beta, seed, detail)
                        : run<float>(m, n, k, alpha, beta, seed, detail);
}
