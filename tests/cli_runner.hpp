// Runs the built `tandem` binary and captures its exit status, stdout and stderr.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.hpp"

namespace tandem::testing {

struct cli_result {
  int status = -1;
  std::string out;
  std::string err;
};

// `env` is put before the command (variables, or a prefix such as `ulimit -v N;`); `stdout_to`, when
// given, is where stdout goes instead of being captured (e.g. /dev/full).
inline cli_result run_cli(const std::string& args, const std::string& env = "", const std::string& stdout_to = "") {
  static int counter = 0;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("tandem_cli_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  const std::string out = stdout_to.empty() ? (dir / "out").string() : stdout_to;
  const std::string cmd = env + " '" TANDEM_CLI_PATH "' " + args + " >'" + out + "' 2>'" + (dir / "err").string() +
                          "' </dev/null";
  const int raw = std::system(cmd.c_str());
  cli_result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  if (stdout_to.empty()) r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  std::filesystem::remove_all(dir);
  return r;
}

}  // namespace tandem::testing
