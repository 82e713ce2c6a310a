// The line protocol of a `tandem bench` peer (docs/peers.md), for the peers written in C++: say
// `ready <detail>` once set up, then answer each `run` on stdin with one timed run of the work as
// `time <seconds>` (shortest round-trip text); exit 0 on EOF. No Tandem code: a peer is what a
// user would write with the library alone.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>

namespace tandem_peer {

template <class Work>
int serve(const std::string& detail, Work&& work) {
  std::cout << "ready " << detail << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line != "run") {
      std::cerr << "peer: unknown request '" << line << "' (expected 'run')\n";
      return 2;
    }
    const auto t0 = std::chrono::steady_clock::now();
    work();
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, t);
    std::cout << "time " << std::string(buf, r.ptr) << std::endl;
  }
  return 0;
}

// `--name value` pairs; a missing or malformed value ends the peer with status 2 (before any line).
inline const char* option(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string(argv[i]) == name) return argv[i + 1];
  if (!fallback) {
    std::cerr << "peer: " << name << " is required\n";
    std::exit(2);
  }
  return fallback;
}

template <class T>
T number(int argc, char** argv, const char* name, const char* fallback = nullptr) {
  const std::string text = option(argc, argv, name, fallback);
  T v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    std::cerr << "peer: " << name << " '" << text << "' is not a number\n";
    std::exit(2);
  }
  return v;
}

}  // namespace tandem_peer
