// A generated application log for count-matches' benchmarks: the published Ray example counts
// the lines containing "ERROR" in 10 million log lines like these.
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include "tandem/errors.hpp"
#include "tandem/workloads/count_matches.hpp"

namespace tandem {

namespace {
std::uint64_t splitmix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

const char* const services[] = {"api", "auth", "billing", "scheduler", "storage", "worker"};
const char* const info[] = {"request %" PRIu64 " served in %" PRIu64 " ms",
                            "user %" PRIu64 " logged in from 10.0.%" PRIu64 ".7",
                            "task %" PRIu64 " finished, %" PRIu64 " records written",
                            "cache hit ratio %" PRIu64 ".%" PRIu64 "%%"};
const char* const debug[] = {"poll returned %" PRIu64 " events after %" PRIu64 " us",
                             "connection pool size %" PRIu64 " (idle %" PRIu64 ")"};
const char* const warn[] = {"slow query: %" PRIu64 " ms for table t%" PRIu64,
                            "retrying request %" PRIu64 " after upstream ERROR %" PRIu64,  // an ERROR in a WARN line
                            "disk usage at %" PRIu64 "%% on volume %" PRIu64};
const char* const error[] = {"failed to write block %" PRIu64 ": Input/output error (errno %" PRIu64 ")",
                             "task %" PRIu64 " crashed with exit code %" PRIu64,
                             "timeout after %" PRIu64 " ms talking to shard %" PRIu64};
}  // namespace

std::uint64_t write_count_matches_log(const std::string& path, std::uint64_t lines, std::uint64_t seed) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) throw usage_error("cannot write '" + path + "'");
  std::uint64_t s = seed, t = 1'700'000'000'000ull, bytes = 0;  // milliseconds since 1970
  char line[256], msg[160];
  for (std::uint64_t i = 0; i < lines; ++i) {
    const std::uint64_t r = splitmix(s), a = splitmix(s) % 100000, b = splitmix(s) % 1000;
    t += r % 37;
    // Levels: INFO 70%, DEBUG 15%, WARN 10%, ERROR 5%.
    const unsigned p = static_cast<unsigned>(r >> 32) % 100;
    const char* level;
    const char* fmt;
    if (p < 70) level = "INFO", fmt = info[(r >> 8) % 4];
    else if (p < 85) level = "DEBUG", fmt = debug[(r >> 8) % 2];
    else if (p < 95) level = "WARN", fmt = warn[(r >> 8) % 3];
    else level = "ERROR", fmt = error[(r >> 8) % 3];
    std::snprintf(msg, sizeof msg, fmt, a, b);
    const std::uint64_t sec = t / 1000;
    const int n = std::snprintf(line, sizeof line, "2023-11-%02" PRIu64 "T%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64
                                ".%03" PRIu64 "Z %-5s [%s-%" PRIu64 "] %s\n",
                                14 + sec / 86400 % 16, sec / 3600 % 24, sec / 60 % 60, sec % 60, t % 1000, level,
                                services[(r >> 16) % 6], (r >> 24) % 16, msg);
    if (std::fwrite(line, 1, static_cast<std::size_t>(n), f.get()) != static_cast<std::size_t>(n))
      throw resource_error("cannot write '" + path + "'");
    bytes += static_cast<std::uint64_t>(n);
  }
  if (std::fflush(f.get()) != 0) throw resource_error("cannot write '" + path + "'");
  return bytes;
}

}  // namespace tandem
