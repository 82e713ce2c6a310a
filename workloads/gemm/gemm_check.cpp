// --check: entries of C against a reference computed in double-double (each product split exactly
// by an FMA, the sum compensated: Ogita, Rump and Oishi's Dot2), so the reference's own error is
// far below any bound it judges, for float and double data alike.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "tandem/ranks.hpp"
#include "tandem/workloads/gemm.hpp"

namespace tandem {

namespace {

double unit_roundoff(gemm_dtype t) { return t == gemm_dtype::f64 ? 0x1p-53 : 0x1p-24; }
double input_roundoff(gemm_dtype t) {
  switch (t) {
    case gemm_dtype::tf32: return 0x1p-11;  // 10 stored mantissa bits
    case gemm_dtype::f16: return 0x1p-11;
    case gemm_dtype::bf16: return 0x1p-8;
    default: return 0;
  }
}

double element(const void* base, bool f64, std::uint64_t i) {
  return f64 ? static_cast<const double*>(base)[i] : double(static_cast<const float*>(base)[i]);
}

// The rows or columns checked: all of them when few, else `side` spread evenly (first and last
// included), so every row and column block of tiles is sampled.
std::vector<std::uint64_t> picks(std::uint64_t count, std::uint64_t side) {
  std::vector<std::uint64_t> v;
  if (count <= side) {
    for (std::uint64_t i = 0; i < count; ++i) v.push_back(i);
    return v;
  }
  for (std::uint64_t i = 0; i < side; ++i) v.push_back(i * (count - 1) / (side - 1));
  return v;
}

}  // namespace

gemm_check_result check_gemm(const gemm_params& p, std::uint64_t m, std::uint64_t n, gemm_dtype dtype, gemm_rows mine) {
  gemm_check_result r;
  r.bound = kernels::gemm_error_bound(p.k, unit_roundoff(dtype), input_roundoff(dtype));
  const bool all = m * n <= gemm_check_all_entries;
  const std::vector<std::uint64_t> rows = picks(m, all ? m : gemm_check_sample_side);
  const std::vector<std::uint64_t> cols = picks(n, all ? n : gemm_check_sample_side);
  const bool f64 = p.f64 != 0;
  const std::uint64_t k = p.k;
  // The checked columns of B, gathered once (k x |cols|, column by column): B is read row-major.
  std::vector<double> bcols(k * cols.size());
  for (std::uint64_t kk = 0; kk < k; ++kk)
    for (std::size_t j = 0; j < cols.size(); ++j) bcols[j * k + kk] = element(p.b, f64, kk * n + cols[j]);
  std::vector<double> arow(k);
  double worst = 0;
  for (std::uint64_t i : rows) {
    if (i < mine.first || i >= mine.last) continue;  // another rank's rows
    const std::uint64_t held = i - p.row0;             // in the rows p holds
    for (std::uint64_t kk = 0; kk < k; ++kk) arow[kk] = element(p.a, f64, held * k + kk);
    for (std::size_t j = 0; j < cols.size(); ++j) {
      const double* bc = bcols.data() + j * k;
      double s = 0, comp = 0, mag = 0;
      for (std::uint64_t kk = 0; kk < k; ++kk) {
        const double prod = arow[kk] * bc[kk];
        const double prod_err = std::fma(arow[kk], bc[kk], -prod);
        const double t = s + prod;
        const double z = t - s;
        comp += (s - (t - z)) + (prod - z) + prod_err;
        s = t;
        mag += std::fabs(prod);
      }
      const double exact_ab = s + comp;
      const std::uint64_t at = held * n + cols[j];
      const double c0 = p.beta != 0 && p.c0 ? element(p.c0, f64, at) : 0;
      const double ref = p.alpha * exact_ab + p.beta * c0;
      const double scale = std::fabs(p.alpha) * mag + std::fabs(p.beta) * std::fabs(c0);
      const double diff = std::fabs(element(p.c, f64, at) - ref);
      const double rel = diff == 0 ? 0 : scale > 0 ? diff / scale : std::numeric_limits<double>::infinity();
      // NaN (a NaN in C) fails too: max would drop it.
      worst = std::isnan(rel) ? std::numeric_limits<double>::infinity() : std::max(worst, rel);
      ++r.entries;
    }
  }
  r.max_rel_error = worst;
  r.passed = worst <= r.bound;
  return r;
}

gemm_check_result merge_checks(const gemm_check_result& x, const gemm_check_result& y) {
  gemm_check_result r;
  r.entries = x.entries + y.entries;
  r.max_rel_error = std::max(x.max_rel_error, y.max_rel_error);  // never NaN (see above)
  r.bound = x.bound;
  r.passed = r.max_rel_error <= r.bound;
  return r;
}

gemm_check_result merge_checks_across_ranks(const gemm_check_result& mine) {
  if (!ranks::distributed()) return mine;
  gemm_check_result r = mine;
  r.entries = ranks::sum(mine.entries);
  // The errors are >= 0 or +infinity: their bit patterns order as the values do.
  std::uint64_t bits;
  std::memcpy(&bits, &mine.max_rel_error, 8);
  bits = ranks::max(bits);
  std::memcpy(&r.max_rel_error, &bits, 8);
  r.passed = r.max_rel_error <= r.bound;
  return r;
}

}  // namespace tandem
