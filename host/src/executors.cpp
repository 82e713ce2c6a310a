#include "tandem/executors.hpp"

#include <stdexcept>
#include <string>

namespace tandem {

namespace {
void* partial_at(void* partials, const chunk_job& job, std::size_t chunk) {
  return static_cast<unsigned char*>(partials) + chunk * job.partial_size;
}

void check_span(const chunk_job& job, chunk_span span) {
  if (span.first > span.last || span.last > job.plan.chunks())
    throw std::out_of_range("executor: chunks [" + std::to_string(span.first) + ", " + std::to_string(span.last) +
                            ") are not a range of a job of " + std::to_string(job.plan.chunks()) + " chunks");
}
}  // namespace

void seq_executor::run(const chunk_job& job, chunk_span span, void* partials) {
  check_span(job, span);
  for (std::size_t c = span.first; c < span.last; ++c)
    job.run_chunk(job.params, job.plan, c, partial_at(partials, job, c - span.first));
}

thread_executor::thread_executor(unsigned workers) : pool_(workers == 0 ? 0 : workers - 1) {
  if (workers == 0) throw std::invalid_argument("threads backend needs at least 1 worker");
}

void thread_executor::run(const chunk_job& job, chunk_span span, void* partials) {
  check_span(job, span);
  pool_.for_each(span.size(), [&](std::size_t i) {
    job.run_chunk(job.params, job.plan, span.first + i, partial_at(partials, job, i));
  });
}

}  // namespace tandem
