// The report as Markdown: what docs/BENCHMARKS.md holds, so it is written to be read raw as well
// as rendered.
#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "report_formats_common.hpp"
#include "report_text.hpp"
#include "tandem/report_formats.hpp"

namespace tandem {

namespace {
using namespace report_detail;

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Text in a table cell or a line: characters Markdown or HTML would act on are escaped, so a
// reason or a model's name shows as written; '_' only at a word's edge, where it could start or
// end emphasis (intraword '_' is literal in GFM, and max_runs reads better unescaped).
std::string md(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '\r': break;
      case '\n': out += ' '; break;
      case '\\': case '|': case '`': case '*': case '[': case ']': case '#':
        out += '\\';
        out += c;
        break;
      case '_':
        if (i == 0 || i + 1 == s.size() || !word_char(s[i - 1]) || !word_char(s[i + 1])) out += '\\';
        out += c;
        break;
      default:
        // U+2028/2029 break lines in some renderers; a space reads the same.
        if (c == '\xe2' && i + 2 < s.size() && s[i + 1] == '\x80' && (s[i + 2] == '\xa8' || s[i + 2] == '\xa9')) {
          out += ' ';
          i += 2;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string code(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '`'), s.end());
  return s.empty() ? "" : "`" + s + "`";
}

std::string opt_time(const std::optional<double>& t) { return t ? human_time(*t) : "-"; }

std::string interval(const json& time_s) {
  const json& ci = field(time_s, "ci95");
  if (!ci.is_array() || ci.size() != 2 || !ci[0].is_number() || !ci[1].is_number()) return "-";
  return human_time(ci[0].get<double>()) + " – " + human_time(ci[1].get<double>());
}

std::string speedup(const std::optional<double>& x) { return x ? three_digits(*x) + "×" : "-"; }

std::string size_cell(const json& rec) {
  const auto s = number(rec, "size");
  return s ? human_size(*s) : "-";
}

void table_row(std::ostringstream& out, const std::vector<std::string>& cells) {
  out << '|';
  for (const std::string& c : cells) out << ' ' << c << " |";
  out << '\n';
}

// The first `text_columns` columns are text (left); the rest numbers (right), unless named in
// `also_text`.
void table_head(std::ostringstream& out, const std::vector<std::string>& cells, std::size_t text_columns = 2,
                std::vector<std::size_t> also_text = {}) {
  table_row(out, cells);
  out << '|';
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const bool text = i < text_columns || std::find(also_text.begin(), also_text.end(), i) != also_text.end();
    out << (text ? "---|" : "--:|");
  }
  out << '\n';
}

std::vector<const json*> of_case(const json& doc, const char* list, const case_key& k, bool by_size = true) {
  std::vector<const json*> out;
  if (const json& l = field(doc, list); l.is_array())
    for (const json& j : l)
      if (key_of(j) == k) out.push_back(&j);
  if (by_size) std::stable_sort(out.begin(), out.end(), [](const json* a, const json* b) { return size_less(*a, *b); });
  return out;
}

void machine_section(std::ostringstream& out, const json& doc) {
  const json& m = field(doc, "machine");
  const json& cpu = field(m, "cpu");
  const json& gpu = field(m, "gpu");
  const json& build = field(m, "build");
  if (!m.is_object()) return;
  out << "## Machine\n\n";
  table_head(out, {"", ""});
  if (cpu.is_object()) {
    table_row(out, {"CPU", md(text(cpu, "model"))});
    table_row(out, {"Cores", text(cpu, "logical_cores") + " logical, " + text(cpu, "physical_cores") + " physical"});
    table_row(out, {"SIMD", md(text(cpu, "simd"))});
  }
  std::string gpus;
  if (const json& devices = field(gpu, "devices"); devices.is_array() && !devices.empty()) {
    for (const json& d : devices) {
      if (!gpus.empty()) gpus += "; ";
      gpus += md(text(d, "name")) + " (compute capability " + md(text(d, "compute_capability")) + ", " +
              text(d, "multiprocessors") + " SMs";
      if (const auto bytes = number(d, "memory_bytes")) gpus += ", " + human_si(*bytes, "B", true);
      gpus += ")";
    }
    gpus += ", driver " + md(text(gpu, "driver")) + ", runtime " + md(text(gpu, "runtime"));
  } else {
    const std::string reason = text(gpu, "reason");
    gpus = "none" + (reason.empty() ? std::string() : " (" + md(reason) + ")");
  }
  table_row(out, {"GPU", gpus});
  if (const std::string os = text(m, "os"); !os.empty()) table_row(out, {"OS", md(os)});
  if (const std::string compiler = text(build, "compiler"); !compiler.empty()) table_row(out, {"Compiler", md(compiler)});
  std::string libraries;
  if (const json& libs = field(build, "libraries"); libs.is_object()) {
    for (auto it = libs.begin(); it != libs.end(); ++it) {
      if (!libraries.empty()) libraries += "; ";
      libraries += md(it.key()) + " " + md(it->is_string() ? it->get<std::string>() : it->dump());
    }
  } else if (const std::string blas = text(build, "blas"); !blas.empty()) {
    libraries = "BLAS: " + md(blas);
  }
  if (!libraries.empty()) table_row(out, {"Libraries", libraries});
  const json& cuda = field(build, "cuda");
  if (cuda.is_boolean())
    table_row(out, {"CUDA build", cuda.get<bool>() ? "on (architectures " + md(text(build, "cuda_architectures")) + ")" : "off"});
  if (const std::string rev = text(build, "git_revision"); !rev.empty()) table_row(out, {"Git revision", code(rev)});
  const json& mpi = field(m, "mpi");
  if (mpi.is_object())
    table_row(out, {"MPI", md(text(mpi, "implementation")) + ", " + text(mpi, "ranks") + " ranks (" + text(mpi, "local_ranks") +
                               " on " + md(text(mpi, "node")) + ")"});
  else
    table_row(out, {"MPI", "not under mpirun"});
  out << '\n';
}

void settings_section(std::ostringstream& out, const json& doc) {
  const json& s = field(doc, "settings");
  if (s.is_object() && !s.empty()) {
    out << "## Settings\n\n";
    if (const std::string sizes = text(s, "sizes"); !sizes.empty()) out << "- Sizes: " << md(sizes) << '\n';
    if (const auto b = number(s, "budget_s")) out << "- Time budget: " << human_time(*b) << '\n';
    if (const auto t = number(s, "target_rel_ci"))
      out << "- Repeats until the 95% interval is within ±" << three_digits(*t * 100) << "% of the median\n";
    if (number(s, "min_runs") || number(s, "max_runs"))
      out << "- Runs per measurement: " << text(s, "min_runs") << " to " << text(s, "max_runs") << '\n';
    if (const auto w = number(s, "warmup")) out << "- Warm-up runs: " << human_size(*w) << '\n';
    out << '\n';
  }
  const json& c = field(doc, "ceilings");
  if (!c.is_object() || c.empty()) return;
  out << "## Ceilings (measured on this machine)\n\n";
  table_head(out, {"Ceiling", "Measured"});
  const json& fma = field(c, "fma_gflops");
  std::string how;
  if (fma.is_object()) {
    how = " (" + md(text(fma, "simd")) + (number(fma, "cores") ? ", " + text(fma, "cores") + " cores" : "") + ")";
    if (const auto f = number(fma, "f64")) table_row(out, {"FMA, float64", three_digits(*f) + " GFLOP/s" + how});
    if (const auto f = number(fma, "f32")) table_row(out, {"FMA, float32", three_digits(*f) + " GFLOP/s" + how});
  }
  if (const auto r = number(c, "read_gbs")) table_row(out, {"Memory read", three_digits(*r) + " GB/s"});
  const json& g = field(c, "gpu");
  if (g.is_object()) {
    std::string rates;
    for (auto [key, name] : {std::pair{"peak_gbs", "peak"}, {"d2d_gbs", "device to device"},
                             {"h2d_gbs", "host to device"}, {"d2h_gbs", "device to host"}})
      if (const auto v = number(g, key)) rates += std::string(rates.empty() ? "" : ", ") + name + " " + three_digits(*v) + " GB/s";
    table_row(out, {"GPU " + md(text(g, "device")), rates});
  } else if (c.contains("gpu")) {
    table_row(out, {"GPU", "none"});
  }
  out << '\n';
}

void case_section(std::ostringstream& out, const json& doc, const case_key& k) {
  const std::string unit = size_unit_of(doc, k);
  out << "## " << md(k.workload) << (k.case_name.empty() ? "" : " · " + md(k.case_name)) << "\n\n";
  const auto results = of_case(doc, "results", k);
  if (!results.empty()) {
    bool transfer = false;
    std::map<std::string, double> best;  // the fastest median at each size, shown in bold
    for (const json* r : results) {
      transfer = transfer || field(*r, "transfer_s").is_object();
      if (const auto t = median_of(*r)) {
        auto [it, fresh] = best.try_emplace(size_cell(*r), *t);
        if (!fresh) it->second = std::min(it->second, *t);
      }
    }
    std::vector<std::string> head = {unit.empty() ? "Size" : "Size (" + md(unit) + ")", "Backend", "Workers", "Median",
                                     "95% interval", "Throughput", "Of ceiling", "Speedup over seq"};
    if (transfer) head.insert(head.begin() + 4, "Transfer");
    head.push_back("Stop");
    table_head(out, head, 2, {head.size() - 1});
    for (const json* r : results) {
      const json& t = field(*r, "time_s");
      const auto med = median_of(*r);
      std::string median = opt_time(med);
      if (med && results.size() > 1 && best[size_cell(*r)] == *med) median = "**" + median + "**";
      const json& tp = field(*r, "throughput");
      const auto rate = number(tp, "value");
      const json& ceil = field(*r, "ceiling");
      const auto frac = number(ceil, "fraction");
      std::vector<std::string> row = {
          size_cell(*r), md(text(*r, "backend")), text(*r, "workers"), median, interval(t),
          rate ? human_si(*rate, md(text(tp, "unit"))) : "-",
          frac ? three_digits(*frac * 100) + "% " + md(text(ceil, "kind")) : "-",
          speedup(number(*r, "speedup_vs_seq"))};
      if (transfer) {
        const json& x = field(*r, "transfer_s");
        const auto xm = number(x, "median");
        const auto bytes = number(x, "bytes");
        row.insert(row.begin() + 4, xm ? human_time(*xm) + (bytes ? " (" + human_si(*bytes, "B", true) + ")" : "") : "-");
      }
      row.push_back(md(text(*r, "stop")));
      table_row(out, row);
    }
    out << '\n';
    if (transfer) out << "GPU medians are the device's time; transfers to and from the device are shown apart.\n\n";
    // A note repeated over sizes (auto's reason, say) is written once, with the sizes it holds for.
    std::vector<std::pair<std::string, std::string>> notes;
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> at;
    for (const json* r : results)
      if (std::pair key{text(*r, "backend"), text(*r, "note")}; !key.second.empty()) {
        if (!at.count(key)) notes.push_back(key);
        at[key].push_back(size_cell(*r));
      }
    if (!notes.empty()) out << "Notes:\n\n";
    for (const auto& key : notes) {
      out << "- " << md(key.first);
      for (std::size_t i = 0; i < at[key].size(); ++i) out << (i ? ", " : " at ") << at[key][i];
      out << ": " << md(key.second) << '\n';
    }
    if (!notes.empty()) out << '\n';
  }
  if (const auto peers = of_case(doc, "peers", k); !peers.empty()) {
    out << "Peers, measured in the same run (Tandem's speedup: the peer's median over Tandem's best median at that "
           "size):\n\n";
    table_head(out, {"Size", "Peer", "Variant", "Median", "95% interval", "Tandem's speedup", "Version"}, 3, {6});
    for (const json* p : peers)
      table_row(out, {size_cell(*p), md(text(*p, "peer")), md(text(*p, "variant")), opt_time(median_of(*p)),
                      interval(field(*p, "time_s")), speedup(number(*p, "tandem_speedup")), md(text(*p, "detail"))});
    out << '\n';
  }
  if (const auto crossovers = of_case(doc, "crossovers", k, false); !crossovers.empty()) {
    out << "Crossovers:\n\n";
    for (const json* c : crossovers) {
      const std::string u = text(*c, "size_unit").empty() ? unit : text(*c, "size_unit");
      out << "- **" << md(text(*c, "backend")) << "** over " << md(text(*c, "versus")) << ": ";
      if (const auto s = number(*c, "size")) {
        out << "wins from " << human_size(*s) << (u.empty() ? "" : " " + md(u));
        const json& b = field(*c, "bracket");
        if (b.is_array() && b.size() == 2 && b[0].is_number() && b[1].is_number())
          out << " (between the measured " << human_size(b[0].get<double>()) << " and " << human_size(b[1].get<double>()) << ")";
        if (const std::string note = text(*c, "note"); !note.empty()) out << "; " << md(note);
      } else {
        const std::string note = text(*c, "note");
        out << (note.empty() ? "no crossover found" : md(note));
      }
      out << '\n';
    }
    out << '\n';
  }
  if (const auto skipped = of_case(doc, "skipped", k); !skipped.empty()) {
    // One line per backend and reason, listing the sizes it covers.
    std::vector<std::pair<std::string, std::string>> keys;
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> sizes;
    for (const json* s : skipped) {
      std::pair key{text(*s, "backend"), text(*s, "reason")};
      if (!sizes.count(key)) keys.push_back(key);
      if (number(*s, "size")) sizes[key].push_back(size_cell(*s));
      else sizes[key];
    }
    out << "Skipped:\n\n";
    for (const auto& key : keys) {
      out << "- **" << md(key.first) << "**";
      const auto& at = sizes[key];
      for (std::size_t i = 0; i < at.size(); ++i) out << (i ? ", " : " at ") << at[i];
      out << ": " << md(key.second) << '\n';
    }
    out << '\n';
  }
}
}  // namespace

std::string report_markdown(const nlohmann::json& doc) {
  std::ostringstream out;
  out << "# Tandem benchmark report\n\n";
  const std::string command = text(doc, "command");
  const std::string rev = text(field(field(doc, "machine"), "build"), "git_revision");
  out << (command.empty() ? std::string("tandem") : code(command == "bench" ? "tandem bench" : "tandem " + command));
  if (const std::string v = text(doc, "tandem_version"); !v.empty()) out << " · Tandem " << md(v);
  if (!rev.empty()) out << " · git " << code(rev);
  out << " · report schema " << text(doc, "schema_version");
  if (const json& a = field(doc, "agree"); a.is_boolean())
    out << (a.get<bool>() ? " · every backend gave the same answer" : " · **backends disagree: see the results**");
  out << "\n\n";
  machine_section(out, doc);
  settings_section(out, doc);
  for (const case_key& k : cases_of(doc)) case_section(out, doc, k);
  if (const json& ps = field(doc, "peers_skipped"); ps.is_array() && !ps.empty()) {
    out << "## Peers not run\n\n";
    table_head(out, {"Workload", "Peer", "Reason", "Install"}, 4);
    for (const json& p : ps)
      table_row(out, {md(text(p, "workload")), md(text(p, "peer")), md(text(p, "reason")), code(text(p, "package"))});
    out << '\n';
  }
  return out.str();
}

}  // namespace tandem
