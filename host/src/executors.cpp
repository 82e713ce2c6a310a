#include "tandem/executors.hpp"

#include <stdexcept>

namespace tandem {

namespace {
void* partial_at(void* partials, const chunk_job& job, std::size_t chunk) {
  return static_cast<unsigned char*>(partials) + chunk * job.partial_size;
}
}  // namespace

void seq_executor::run(const chunk_job& job, void* partials) {
  for (std::size_t c = 0; c < job.plan.chunks(); ++c)
    job.run_chunk(job.params, job.plan, c, partial_at(partials, job, c));
}

thread_executor::thread_executor(unsigned workers) : pool_(workers == 0 ? 0 : workers - 1) {
  if (workers == 0) throw std::invalid_argument("threads backend needs at least 1 worker");
}

void thread_executor::run(const chunk_job& job, void* partials) {
  pool_.for_each(job.plan.chunks(),
                 [&](std::size_t c) { job.run_chunk(job.params, job.plan, c, partial_at(partials, job, c)); });
}

}  // namespace tandem
