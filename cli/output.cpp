#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <system_error>

#include "cli.hpp"
#include "tandem/machine.hpp"

namespace tandem::cli {

void write_atomically(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      throw std::runtime_error("writing " + tmp.string() + " failed");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp);
    throw std::runtime_error("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
  }
}

int emit(const common_flags& f, const report& r) {
  const machine_info m = describe_machine();
  if (f.json || !f.out.empty()) {
    const std::string doc = report_json(m, r).dump(2) + "\n";
    if (!f.out.empty()) write_atomically(f.out, doc);
    if (f.json) std::cout << doc;
  }
  if (!f.json) {
    for (const run_report& rr : r.runs) {
      print_table(std::cout, rr, r.peers);
      std::cout << "\n";
    }
  }
  if (!r.agree()) {
    for (const run_report& rr : r.runs)
      if (!rr.agree) std::cerr << "tandem: error: backends disagree: " << rr.disagreement << "\n";
    return exit_failure;
  }
  return exit_ok;
}

}  // namespace tandem::cli
