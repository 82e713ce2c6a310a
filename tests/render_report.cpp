// Renders a report document (JSON) into the other formats, so tests can check a page made from any
// document: render_report DOC.json [--html FILE] [--csv FILE] [--markdown FILE]; with no output
// named, the HTML goes to stdout.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tandem/report_formats.hpp"

namespace {
int fail(const std::string& message) {
  std::cerr << "render_report: " << message << "\n";
  return 2;
}

bool write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  return bool(out);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc % 2 != 0) return fail("usage: render_report DOC.json [--html FILE] [--csv FILE] [--markdown FILE]");
  std::ifstream in(argv[1], std::ios::binary);
  if (!in) return fail(std::string("cannot read ") + argv[1]);
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (doc.is_discarded()) return fail(std::string(argv[1]) + " is not JSON");
  if (argc == 2) {
    std::cout << tandem::report_html(doc);
    return 0;
  }
  for (int i = 2; i < argc; i += 2) {
    const std::string flag = argv[i], path = argv[i + 1];
    std::string out;
    if (flag == "--html") out = tandem::report_html(doc);
    else if (flag == "--csv") out = tandem::report_csv(doc);
    else if (flag == "--markdown") out = tandem::report_markdown(doc);
    else return fail("unknown option " + flag);
    if (!write(path, out)) return fail("cannot write " + path);
  }
  return 0;
}
