// The forest on a GPU: the model image uploaded once, rows streamed through pinned buffers on two
// streams (the host converts batch b+1 and finishes batch b-1 while the device walks batch b),
// margins copied back. Margins become probabilities and labels on the host, in the same code the
// CPU backends run, so every backend gives the same bits (forest.cu).
#pragma once

#include <cstddef>
#include <memory>

#include "tandem/gpu/context.hpp"
#include "tandem/workloads/forest_model.hpp"

namespace tandem {

class forest_gpu {
 public:
  static constexpr std::size_t default_batch_rows = std::size_t{1} << 16;
  // Uploads the image and takes the buffers. Throws gpu::error when the device is out of memory,
  // unavailable_error in a build without GPU code.
  forest_gpu(gpu::context& c, const forest::compiled_forest& model, std::size_t batch_rows = default_batch_rows);
  ~forest_gpu();
  forest_gpu(const forest_gpu&) = delete;
  forest_gpu& operator=(const forest_gpu&) = delete;

  // The margins (n x outputs, as double: exact for float sums) of n rows of `features` values,
  // float or double (converted to the model's input precision on the host as every backend does).
  // `done(first_row, count, margins)` is called for each batch in order, on this thread, as its
  // margins arrive; `margins` is valid only during the call.
  template <class Done>
  void run(const void* rows, bool rows_f64, std::size_t n, Done&& done) {
    run_batches(rows, rows_f64, n, [](void* f, std::size_t r0, std::size_t k, const double* m) {
      (*static_cast<Done*>(f))(r0, k, m);
    }, &done);
  }

 private:
  void run_batches(const void* rows, bool rows_f64, std::size_t n,
                   void (*done)(void*, std::size_t, std::size_t, const double*), void* ctx);
  struct state;
  std::unique_ptr<state> s_;
};

}  // namespace tandem
