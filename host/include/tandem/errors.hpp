// The errors a user can cause, kept apart from internal failures so the CLI can answer each with
// one clear line and the right exit status.
#pragma once

#include <stdexcept>
#include <string>

namespace tandem {

// A flag or parameter outside its domain (CLI exit status 2).
class usage_error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// A backend that cannot run on this machine or build, e.g. "no CUDA device: ..." (exit status 3).
class unavailable_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The system refused something a run needs: a thread, a worker process, a file descriptor, e.g.
// "threads: could not start thread 38 of 999: Resource temporarily unavailable". What was
// already made is cleaned up before it is thrown (CLI exit status 1, as for any failed run).
class resource_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tandem
