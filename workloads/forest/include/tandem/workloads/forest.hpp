// `tandem forest`: batched inference of tree ensembles (XGBoost, LightGBM, scikit-learn) with the
// training library's own bits, on every backend. See workloads/forest/README.md and docs/forest.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/executor.hpp"
#include "tandem/job.hpp"
#include "tandem/kernels/forest.hpp"
#include "tandem/workload.hpp"
#include "tandem/workloads/forest_model.hpp"

namespace tandem {

// What each output row holds: the raw margins (model outputs), the library's probabilities
// (predict_proba; a regressor's prediction), or the predicted class label.
enum class forest_output : std::uint8_t { margin, proba, label };

const char* to_string(forest_output k) noexcept;

// A deterministic random forest for runs without a model file: `trees` full trees of `depth`
// levels over `features` features, in XGBoost's arithmetic (binary:logistic: float32 inputs,
// x < threshold, float sums, the logistic link), thresholds and leaf values drawn from `seed`.
struct forest_synthetic {
  std::uint32_t trees = 100;
  std::uint32_t depth = 6;
  std::uint32_t features = 8;
};
forest::forest_model synthetic_forest(const forest_synthetic& s, std::uint64_t seed);
// Limits of --synthetic (the model is 2^depth leaves per tree): trees <= 100000, depth 1..20,
// features 1..100000, and trees * 2^depth <= 2^28 nodes. Throws usage_error otherwise.
void check_synthetic(const forest_synthetic& s);

struct forest_options {
  std::string model;            // a model file; empty: the synthetic forest
  forest_synthetic synthetic;
  std::string input;            // CSV with a header, or .npy (float32/float64, rows x features); empty: generated rows
  std::uint64_t rows = 100000;  // generated rows (no --input)
  std::string output;           // CSV, or .npy by extension; empty: predictions are not written
  forest_output kind = forest_output::proba;
  std::uint64_t seed = 42;      // the synthetic forest and the generated rows
};
// Generated rows held at once: rows * features <= 2^31 values (8 GiB of float32).
inline constexpr std::uint64_t forest_max_generated_values = std::uint64_t{1} << 31;

struct forest_result {
  std::uint64_t rows = 0;
  std::uint32_t columns = 0;
  forest_output kind = forest_output::proba;
  std::uint64_t checksum = 0;         // of every output value's bits, in row order (fixed fold)
  std::vector<double> column_means;   // the first min(columns, 8)
};
nlohmann::json result_json(const forest_result& r);

// The chunk kernel: a chunk is a range of rows; it writes their outputs to the window's output
// array and returns a digest of them. One kernel for every model kind: the view that matches
// the model's precisions is the one set.
struct forest_params {
  kernels::forest_view<float, float> ff;    // XGBoost: float inputs, float sums
  kernels::forest_view<float, double> fd;   // scikit-learn: float inputs, double sums
  kernels::forest_view<double, double> dd;  // LightGBM: double inputs and sums
  std::uint8_t which = 0;                   // 0: ff, 1: fd, 2: dd
  std::uint8_t input_f64 = 0;               // the input array holds double (else float)
  std::uint8_t simd = 0;                    // the model is small enough for the vector walk
  forest_output kind = forest_output::proba;
  forest::link post = forest::link::identity;
  double link_scale = 1;
  std::uint32_t features = 0, outputs = 0, proba_columns = 0, columns = 0, n_classes = 0;
  const void* input = nullptr;  // row r of the window is at input + (r - input_row0) * features
  std::uint64_t input_row0 = 0;
  double* output = nullptr;     // row r's outputs at output + (r - output_row0) * columns
  std::uint64_t output_row0 = 0;
  const double* classes = nullptr;
};

struct forest_digest {
  static constexpr std::uint32_t summed = 8;  // columns whose sums are kept
  std::uint64_t rows = 0;
  std::uint64_t hash = 0;
  double sums[summed] = {};
};

struct forest_kernel {
  using params_type = forest_params;
  using partial_type = forest_digest;
  static partial_type run(const params_type& p, chunk_range rows, worker_context& w);
};

// The digest of rows [0, n) of outputs (n x columns): what a chunk returns, also computed on the
// host for the GPU's outputs.
forest_digest digest_outputs(const double* outputs, std::size_t n, std::uint32_t columns) noexcept;
// Folds a digest into the running one: chunk digests into their group's in chunk order, group
// digests into the run's in group order (forest_group_fold).
void fold_digest(forest_digest& into, const forest_digest& next) noexcept;
// What a fold starts from: no rows, the FNV offset basis.
forest_digest empty_digest() noexcept;

class forest_gpu;  // forest.cu

// The library API: load a model once, predict batches from a pointer and a row count.
class forest_predictor {
 public:
  explicit forest_predictor(forest::forest_model model);
  ~forest_predictor();
  forest_predictor(forest_predictor&&) noexcept;
  forest_predictor& operator=(forest_predictor&&) noexcept;

  const forest::forest_model& model() const noexcept;
  const forest::compiled_forest& compiled() const noexcept;
  // Values per output row for this kind. Throws usage_error for `label` on a regressor.
  std::uint32_t columns(forest_output kind) const;

  // Predicts n rows of model().features values each (row-major) into out (n x columns(kind)) on
  // the calling thread: the lowest latency for small batches.
  void predict(const float* rows, std::size_t n, forest_output kind, double* out) const;
  void predict(const double* rows, std::size_t n, forest_output kind, double* out) const;
  // The same on ctx's backend (seq, threads, procs, gpu); procs needs rows and out in shared
  // memory (tandem::shared_buffer) and refuses anything else, naming it.
  void predict(run_context& ctx, const float* rows, std::size_t n, forest_output kind, double* out) const;
  void predict(run_context& ctx, const double* rows, std::size_t n, forest_output kind, double* out) const;

  // The compiled image and the class labels in shared memory (tandem::shared_buffer), copied on
  // the first call: what procs workers read.
  struct shared_model {
    const std::byte* image = nullptr;
    std::size_t image_bytes = 0;
    const double* classes = nullptr;
    std::size_t classes_bytes = 0;
  };
  shared_model in_shared_memory() const;

  // The kernel parameters for this model (views into `image`, a copy of compiled().image() that
  // the caller placed, e.g. in shared memory or on a device) without input and output.
  forest_params params(const std::byte* image, forest_output kind, const double* classes) const;

 private:
  template <class In>
  void predict_on(run_context& ctx, const In* rows, std::size_t n, forest_output kind, double* out) const;
  struct state;
  std::unique_ptr<state> s_;
};

// Rows per chunk: fixed, so the digest's fold is the same on every backend.
inline constexpr std::size_t forest_chunk_rows = 4096;

// The checksum is a fixed two-level tree (docs/forest.md): the digests of a group's chunks fold in
// chunk order into the group's digest, and the group digests fold in group order into the run's.
// MPI ranks run contiguous blocks of whole groups and send rank 0 one digest per group (80 bytes
// per 65536 rows); every run, with one rank or many, folds the same tree, so the same bits.
inline constexpr std::size_t forest_group_chunks = 16;

// Folds chunk digests, given in chunk order from the first chunk of a group on, into their
// groups' digests.
class forest_group_fold {
 public:
  explicit forest_group_fold(std::uint64_t chunks) noexcept : chunks_(chunks) {}
  // Folds chunk c's digest; true when c is its group's last chunk, whose digest is then group().
  bool add(std::uint64_t c, const forest_digest& d) noexcept;
  const forest_digest& group() const noexcept { return group_; }

 private:
  std::uint64_t chunks_;
  forest_digest group_;
};

// The rows rank `rank` of `size` predicts: a contiguous block of whole groups (ranks::share_of
// over the groups), empty when there are more ranks than groups. `groups` is the job's count.
struct forest_row_share {
  std::uint64_t first = 0, last = 0;
  std::uint64_t first_group = 0, groups = 0;
};
forest_row_share forest_rows_of(std::uint64_t rows, int rank, int size) noexcept;

std::unique_ptr<workload> make_forest_workload(const forest_options& o);

}  // namespace tandem
