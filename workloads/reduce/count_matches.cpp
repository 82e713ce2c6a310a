// count-matches on the platform: the chunk kernel, the job, the fold and the workload.
#include "tandem/workloads/count_matches.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "tandem/build_config.hpp"
#include "tandem/errors.hpp"
#include "tandem/io/mapped_file.hpp"

namespace tandem {

namespace {

// Chunks per fold group (their partials are folded in chunk order into one summary), and groups
// per window: 16 x 64 chunks of 1 MiB are 1 GiB per executor call, and 24 KiB of partials.
constexpr std::size_t group_chunks = 64;
constexpr std::size_t window_groups = 16;

// The pattern as printable ASCII for the JSON parameters (a pattern may be any bytes, and JSON
// text must be UTF-8): other bytes as \xNN.
std::string printable(const std::string& s) {
  std::string out;
  for (const unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

class count_matches_workload final : public workload_of<count_matches_result> {
 public:
  explicit count_matches_workload(const count_matches_options& o)
      : options_(o), file_(o.path), simd_(count_matches_simd_from_environment()) {
    file_.advise_sequential();
    params_ = count_matches_params_of(reinterpret_cast<const unsigned char*>(file_.data()), file_.size(), o.pattern, o);
    params_.simd = simd_;
    region_ = file_.region("the input file");
  }

  std::string name() const override { return "reduce"; }
  std::string case_name() const override { return "count-matches"; }
  nlohmann::json params() const override {
    return {{"op", "count-matches"},
            {"pattern", printable(options_.pattern)},
            {"input", options_.path},
            {"bytes", file_.size()},
            {"simd", to_string(simd_)}};
  }
  work_amount work() const override { return {double(file_.size()), "bytes/s", 0, false, double(file_.size())}; }
  // Threads from two chunks. The GPU never by default: the text is in host memory, and its copy
  // to the device (a host memcpy into pinned memory, then PCIe) is slower than the CPU search,
  // which reads it once at memory speed.
  auto_thresholds thresholds() const override {
    return {2.0 * double(options_.chunk_bytes), std::numeric_limits<double>::infinity()};
  }
  backend_status supports(backend b) const override {
    if (b == backend::gpu && !TANDEM_WITH_GPU_CODE) return backend_status::no("this build of Tandem has no GPU code");
    return backend_status::yes();
  }
  // The GPU path's pinned and device buffers, once: timed runs then allocate nothing.
  void prepare(run_context& ctx) override {
    if (ctx.which == backend::gpu && ctx.gpu) {
      staging_ = make_count_matches_gpu_staging(*ctx.gpu, params_, options_.chunk_bytes);
      params_.gpu_staging = staging_.get();
    }
  }
  void release(run_context&) override {
    params_.gpu_staging = nullptr;
    staging_.reset();
  }
  count_matches_result compute(run_context& ctx) override {
    job<count_matches_kernel> j = count_matches_job(params_, options_);
    j.regions = {&region_, 1};
    return run_count_matches(ctx, j);
  }

 private:
  count_matches_options options_;
  mapped_file file_;  // mapped before the runner forks the procs workers: they read the same pages
  count_matches_simd simd_;
  count_matches_params params_;
  memory_region region_;
  std::shared_ptr<count_matches_gpu_staging> staging_;
};

}  // namespace

count_matches_params count_matches_params_of(const unsigned char* text, std::uint64_t size, const std::string& pattern,
                                             const count_matches_options& o) {
  if (pattern.find('\n') != std::string::npos)
    throw usage_error("--pattern: contains a newline (grep -F would read it as several patterns; give one line)");
  if (pattern.size() > kernels::count_matches_max_pattern)
    throw usage_error("--pattern: at most " + std::to_string(kernels::count_matches_max_pattern) + " bytes (got " +
                      std::to_string(pattern.size()) + ")");
  if (o.chunk_bytes == 0 || o.gpu_piece_bytes == 0 || o.gpu_batch_bytes == 0)
    throw usage_error("count-matches: chunk, piece and batch sizes must be at least 1 byte");
  count_matches_params p;
  p.text = size ? text : nullptr;
  p.size = size;
  p.gpu_piece_bytes = o.gpu_piece_bytes;
  p.gpu_batch_bytes = o.gpu_batch_bytes;
  p.simd = count_matches_simd_best();
  p.pattern_length = static_cast<std::uint32_t>(pattern.size());
  std::memcpy(p.pattern, pattern.data(), pattern.size());
  return p;
}

count_matches_kernel::partial_type count_matches_kernel::run(const params_type& p, chunk_range r) {
  return count_matches_search(p, r.begin, r.end, p.simd);
}

job<count_matches_kernel> count_matches_job(const count_matches_params& p, const count_matches_options& o) {
  job<count_matches_kernel> j;
  j.params = p;
  j.plan = chunk_plan(p.size, o.chunk_bytes);
  j.group_chunks = group_chunks;
  return j;
}

count_matches_block count_matches_of_groups(run_context& ctx, const job<count_matches_kernel>& j, ranks::share groups) {
  count_matches_block b;
  b.partial = kernels::line_match_identity();
  groups.last = std::min<std::size_t>(groups.last, j.groups());
  if (groups.first >= groups.last) return b;
  run_groups(
      ctx, j, window_groups,
      [&](std::size_t, std::span<const kernels::line_match_partial> chunks) {
        kernels::line_match_partial group = kernels::line_match_identity();
        for (const auto& c : chunks) group = kernels::combine(group, c);
        b.partial = kernels::combine(b.partial, group);
      },
      {groups.first, groups.last});
  // The block holding the file's end says whether its last line lacks a newline: only that
  // rank reads the last byte.
  if (groups.last == j.groups()) b.open_last_line = j.params.text[j.params.size - 1] != '\n';
  return b;
}

count_matches_block merge(const count_matches_block& a, const count_matches_block& b) noexcept {
  return {kernels::combine(a.partial, b.partial), std::uint8_t(a.open_last_line | b.open_last_line)};
}

count_matches_result run_count_matches(run_context& ctx, const job<count_matches_kernel>& j) {
  // Under MPI each rank folds its block of groups into one partial, and rank 0 combines the P
  // partials in rank order: the monoid is exactly associative (integer counts and flags), so any
  // bracketing gives the whole fold's value. 24 bytes per rank travel.
  count_matches_block total = count_matches_of_groups(ctx, j, ranks::my_share(j.groups()));
  if (ranks::distributed()) {
    const std::vector<count_matches_block> all = ranks::gather_values(total);
    if (ranks::is_root()) {
      total = {kernels::line_match_identity(), 0};
      for (const count_matches_block& b : all) total = merge(total, b);
    }
  }
  count_matches_result r;
  r.count = kernels::matching_lines(total.partial);
  r.bytes = j.params.size;
  r.lines = total.partial.newlines + total.open_last_line;
  return r;
}

count_matches_result run_count_matches(run_context& ctx, const count_matches_options& o) {
  const mapped_file file(o.path);
  count_matches_params p =
      count_matches_params_of(reinterpret_cast<const unsigned char*>(file.data()), file.size(), o.pattern, o);
  p.simd = count_matches_simd_from_environment();
  job<count_matches_kernel> j = count_matches_job(p, o);
  const memory_region region = file.region("the input file");
  j.regions = {&region, 1};
  return run_count_matches(ctx, j);
}

count_matches_result run_count_matches(executor& ex, const count_matches_options& o) {
  run_context ctx = cpu_context(ex);
  return run_count_matches(ctx, o);
}

nlohmann::json result_json(const count_matches_result& r) {
  return {{"value", r.count}, {"n", r.lines}, {"bytes", r.bytes}, {"dtype", "text"}};
}

std::unique_ptr<workload> make_count_matches_workload(const count_matches_options& o) {
  return std::make_unique<count_matches_workload>(o);
}

}  // namespace tandem
