#include "tandem/worker_context.hpp"

namespace tandem {

worker_context& worker_context::current() {
  thread_local worker_context context;
  return context;
}

}  // namespace tandem
