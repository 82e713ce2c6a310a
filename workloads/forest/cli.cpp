// `tandem forest`: placeholder until the command lands.
#include "cli.hpp"

namespace tandem::cli {
namespace {
workload_factory add_flags(CLI::App&) { return [](const common_flags&) -> std::unique_ptr<workload> { return nullptr; }; }
bench_entry bench(bool) { return {}; }
}  // namespace
const workload_command& forest_command() {
  static const workload_command c{"forest", "Tree-ensemble inference (in progress)", add_flags, bench, nullptr};
  return c;
}
}  // namespace tandem::cli
