// Test hooks: a chosen failure at a chosen point, so that tests of failure paths need neither
// sleeps nor luck. The environment variable TANDEM_FAULT holds a comma list of
// `point[@N|@N-M|@N-]:action`:
//
//   thread_create@3:fail      the 3rd thread the process starts fails as if the system refused it
//   worker_start@1-:SIGKILL    every procs worker dies by SIGKILL before it is ready
//   run_done@2:SIGINT          the runner raises SIGINT after the 2nd run of a workload
//
// A point is counted from 1 in the process that reaches it; @N is its N-th time only, @N-M the
// N-th to the M-th, @N- the N-th and every later time, no @ the first time only. The action is
// `fail` or a signal's name. The points (docs/reliability.md lists them) are rare events (a thread
// or a worker started, a run finished), so the variable is looked up at each: when it changes
// (a test's setenv), the list is read again and the counts restart.
#pragma once

namespace tandem::fault {

struct action {
  bool fail = false;  // the operation at the point should fail as the system would make it fail
  int signal = 0;     // a signal to raise there (in the worker, for worker_start), or 0
};

// Counts one pass through `point` and returns what TANDEM_FAULT asks for on this pass.
action at(const char* point) noexcept;

// at(point), raising the signal in this process when the action is one. True when it says fail.
bool hit(const char* point) noexcept;

}  // namespace tandem::fault
