// `tandem bench`: every workload's bench cases over a ladder of sizes, on every backend, with the
// peers beside them; backends and peers interleaved round by round, repeated until the medians are
// stable or the time budget is spent. See docs/bench.md.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>

#include "bench_peers.hpp"
#include "cli.hpp"
#include "tandem/calibration.hpp"
#include "tandem/ceilings.hpp"
#include "tandem/compare.hpp"
#include "tandem/errors.hpp"
#include "tandem/gpu/device.hpp"
#include "tandem/interrupt.hpp"
#include "tandem/io/ordered_file_sink.hpp"
#include "tandem/machine.hpp"
#include "tandem/peer_process.hpp"
#include "tandem/ranks.hpp"
#include "tandem/report_formats.hpp"
#include "tandem/stats.hpp"

namespace tandem::cli {

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

struct bench_flags {
  common_flags common;
  std::string workloads;  // comma list; empty: all
  std::string sizes = "default";
  double budget = 40;
  double target_ci = 0.05;
  unsigned min_runs = 5, max_runs = 50;
  std::string peers;
  std::string compare;
  double fail_above = 10;
  std::string html;
  bool csv = false, markdown = false, calibrate = false, quick = false, progress = false;
  bool repeat_given = false;  // --repeat: a fixed number of timed runs, no adaptive repetition
};

// One cell of the bench: a workload case at one size.
struct cell {
  const workload_command* command;
  const bench_case* bcase;
  double size;
};

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// "small", "default", "large", or explicit sizes "1e4,1e5" applied to every case.
std::vector<double> ladder(const bench_case& c, const bench_flags& f) {
  if (f.quick || f.sizes == "small") return c.small;
  if (f.sizes == "default") return c.normal;
  if (f.sizes == "large") return c.large;
  std::vector<double> sizes;
  for (const std::string& item : split_list(f.sizes)) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used != item.size() || !std::isfinite(v) || v < 1 || v > 1e15 || v != std::floor(v))
      throw usage_error("--sizes: '" + item + "' is not small, default, large or a whole number from 1 to 1e15");
    sizes.push_back(v);
  }
  if (sizes.empty()) throw usage_error("--sizes: no size given");
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

std::vector<cell> plan_cells(const bench_flags& f) {
  std::set<std::string> wanted;
  for (const std::string& w : split_list(f.workloads)) wanted.insert(w);
  std::set<std::string> known;
  std::vector<cell> cells;
  static std::map<const workload_command*, std::vector<bench_case>> cases;  // alive for the process
  for (const workload_command* w : workload_commands()) {
    known.insert(std::string(w->name));
    if (!wanted.empty() && !wanted.count(std::string(w->name))) continue;
    if (!cases.count(w)) cases[w] = w->bench();
    for (const bench_case& c : cases[w])
      for (double size : ladder(c, f)) cells.push_back({w, &c, size});
  }
  for (const std::string& w : wanted)
    if (!known.count(w)) {
      std::string list;
      for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
      throw usage_error("--workloads: no workload '" + w + "' (there are: " + list + ")");
    }
  return cells;
}

// Progress on stderr: one line rewritten in place, when stderr is a terminal or --progress asks.
class progress_line {
 public:
  explicit progress_line(bool on) : on_(on) {}
  ~progress_line() { clear(); }
  void show(const std::string& text) {
    if (!on_) return;
    std::string line = text.size() > 150 ? text.substr(0, 150) : text;
    std::cerr << "\r\033[K" << line << std::flush;
    shown_ = true;
  }
  void clear() {
    if (on_ && shown_) std::cerr << "\r\033[K" << std::flush;
    shown_ = false;
  }
  bool on() const noexcept { return on_; }

 private:
  bool on_;
  bool shown_ = false;
};

std::string duration_words(double s) {
  char buf[32];
  if (s < 90) std::snprintf(buf, sizeof buf, "%.0f s", std::max(0.0, s));
  else std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  return buf;
}

// A peer of one cell while it runs.
struct live_peer {
  peer_spec spec;
  std::unique_ptr<peer_process> process;
  std::string detail;
  std::vector<double> runs;
  double predicted = 0;  // seconds per run, from its time at the previous size; 0: unknown
  bool dropped = false;  // failed or too slow: no more runs in this cell
  bool slow = false;     // one run took longer than the cell's budget
};

// Each peer's last size and median time: a peer whose time at the next size, predicted in
// proportion to the size, exceeds twice the cell's budget is not run there (a per-path Python loop
// at 10^7 paths would take the whole bench's budget many times over).
std::map<std::string, std::pair<double, double>> peer_times;

std::string peer_key(const peer_spec& p) { return p.workload + "/" + p.case_name + "/" + p.peer + "/" + p.variant; }

struct bench_state {
  const bench_flags& flags;
  run_options options;
  report& rep;
  session& sess;
  progress_line& progress;
  std::set<std::string> noted;  // skip lines already printed once
  clock_type::time_point started = clock_type::now();
  std::size_t cells_done = 0, cells_total = 0;
  double cell_budget = 0;
};

// Notes printed once per distinct line (a missing GPU is said once, not once per cell).
class once_notes : public std::stringbuf {
 public:
  explicit once_notes(bench_state& s) : s_(s) {}
  ~once_notes() override { flush_lines(); }
  void flush_lines() {
    std::string text = str();
    str("");
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      // "forest: skipping backend gpu: no CUDA device ..." is said once for all workloads.
      const std::size_t colon = line.find(": ");
      const std::string key = colon == std::string::npos ? line : line.substr(colon + 2);
      if (!ranks::is_root() || !s_.noted.insert(key).second) continue;
      s_.progress.clear();
      std::cerr << (key.rfind("skipping backend", 0) == 0 ? "bench: " + key : line) << "\n";
    }
  }

 private:
  bench_state& s_;
};

void run_cell(bench_state& st, const cell& c) {
  const bench_flags& f = st.flags;
  const std::string name(c.command->name);
  const std::string where =
      name + (c.bcase->name.empty() ? "" : " (" + c.bcase->name + ")") + " " + size_words(c.size, c.bcase->size_unit);
  auto show = [&](const std::string& what) {
    const double elapsed = seconds_since(st.started);
    const double per_cell = st.cells_done ? elapsed / double(st.cells_done) : st.cell_budget;
    const double left = per_cell * double(st.cells_total - st.cells_done);
    st.progress.show("bench [" + std::to_string(st.cells_done + 1) + "/" + std::to_string(st.cells_total) + "] " +
                     where + ": " + what + " | " + duration_words(elapsed) + " elapsed, about " +
                     duration_words(left) + " left");
  };
  show("setting up");

  // One workload object per backend: a workload keeps its prepared inputs for one backend at a time.
  once_notes notes_buf(st);
  std::ostream notes(&notes_buf);
  run_report rr;
  std::vector<std::unique_ptr<workload>> works;
  std::vector<std::unique_ptr<armed_backend>> armed;
  std::vector<std::size_t> record_of;  // armed[i] fills rr.records[record_of[i]]
  for (const backend_request& requested : st.options.backends) {
    std::unique_ptr<workload> w;
    ranks::agreed([&] { w = c.bcase->make(c.size, f.common.seed); });
    run_record rec;
    std::unique_ptr<armed_backend> a =
        armed_backend::arm(*w, requested, st.options, st.options.backends.size() == 1, notes, st.sess, rec);
    rec.case_name = c.bcase->name;
    rec.size = c.size;
    rec.size_unit = c.bcase->size_unit;
    rr.records.push_back(std::move(rec));
    if (!a) continue;
    record_of.push_back(rr.records.size() - 1);
    armed.push_back(std::move(a));
    works.push_back(std::move(w));
  }
  notes_buf.flush_lines();

  // The peers, on rank 0 only; a missing one is listed with the package that would provide it.
  std::vector<live_peer> peers;
  if (!f.peers.empty() && ranks::is_root() && !works.empty()) {
    for (peer_spec& spec : bench_peers(name, c.bcase->name, works.front()->params(), f.peers)) {
      double predicted = 0;
      if (const auto it = peer_times.find(peer_key(spec)); it != peer_times.end()) {
        predicted = it->second.second * c.size / it->second.first;
        if (predicted > 2 * st.cell_budget) {
          if (st.noted.insert("slow " + peer_key(spec)).second)
            st.rep.peers_skipped.push_back({name, c.bcase->name, spec.peer + ", " + spec.variant,
                                            "not run from " + size_words(c.size, c.bcase->size_unit) +
                                                ": about " + duration_words(predicted) + " per run at that size",
                                            ""});
          continue;
        }
      }
      show("starting peer " + spec.peer + ", " + spec.variant);
      live_peer p{std::move(spec), std::make_unique<peer_process>(), {}, {}, false, false};
      const peer_start started = start_peer(*p.process, p.spec, 120);
      if (!started.ready()) {
        const std::string key = peer_key(p.spec);
        if (!st.noted.count("peer " + key)) {
          st.noted.insert("peer " + key);
          st.rep.peers_skipped.push_back({name, c.bcase->name, p.spec.peer + ", " + p.spec.variant,
                                          started.reason, started.package.empty() ? p.spec.package : started.package});
          st.progress.clear();
          std::cerr << "bench: " << name << ": peer " << p.spec.peer << ", " << p.spec.variant
                    << " skipped: " << started.reason << "\n";
        }
        continue;
      }
      p.detail = started.detail;
      p.predicted = predicted;
      peers.push_back(std::move(p));
    }
  }

  // Warm-up, then rounds. The order rotates each round, so no backend always follows the same one.
  for (unsigned i = 0; i < f.common.warmup; ++i) {
    show("warming up");
    for (auto& a : armed) a->warm_up();
    for (live_peer& p : peers) {
      // A run that takes a good part of the cell's budget is little moved by a first run's one-off
      // costs (lazy imports, first allocations): not worth its time twice.
      if (p.dropped || p.predicted > st.cell_budget / 4) continue;
      const peer_run r = p.process->run_once(std::max(60.0, 10 * st.cell_budget));
      if (!r.seconds) p.dropped = true;
    }
  }
  stats::stop_rule rule;
  rule.min_runs = f.min_runs;
  rule.max_runs = f.max_runs;
  rule.target_rel_ci = f.target_ci;
  rule.budget_s = st.cell_budget;
  const auto cell_start = clock_type::now();
  std::string stop = "fixed";
  const std::size_t members = armed.size() + peers.size();
  for (unsigned round = 0; members > 0; ++round) {
    show("round " + std::to_string(round + 1));
    for (std::size_t k = 0; k < members; ++k) {
      const std::size_t m = (k + round) % members;
      if (m < armed.size()) {
        armed[m]->timed_run();
        continue;
      }
      live_peer& p = peers[m - armed.size()];
      if (p.dropped) continue;
      const peer_run r = p.process->run_once(std::max(60.0, 10 * st.cell_budget));
      if (!r.seconds) {
        p.dropped = true;
        st.progress.clear();
        std::cerr << "bench: " << name << ": peer " << p.spec.peer << ", " << p.spec.variant
                  << " stopped: " << r.error << "\n";
        continue;
      }
      p.runs.push_back(*r.seconds);
      // Slower than the cell's whole budget: one run says enough.
      if (*r.seconds > st.cell_budget) p.dropped = p.slow = true;
    }
    // Rank 0 decides, from its own timings, and every rank follows (their runs must pair up).
    int decision = 0;  // 0: go on; else 1 + stop_reason
    if (ranks::is_root()) {
      if (f.repeat_given) {
        decision = round + 1 >= f.common.repeat ? 1 : 0;
      } else {
        std::vector<stats::summary> sums;
        for (auto& a : armed) sums.push_back(stats::summarize(a->samples()));
        for (live_peer& p : peers)
          if (!p.dropped && !p.runs.empty()) sums.push_back(stats::summarize(p.runs));
        const stats::stop_reason why = stats::should_stop(rule, sums, seconds_since(cell_start));
        if (why != stats::stop_reason::none) {
          decision = 1;
          stop = stats::to_string(why);
        }
      }
    }
    ranks::broadcast_value(decision);
    if (decision != 0) break;
    throw_if_interrupted();
  }

  std::optional<std::size_t> reference;
  for (std::size_t i = 0; i < armed.size(); ++i) {
    armed[i]->finish(rr, record_of[i], reference);
    rr.records[record_of[i]].stop = stop;
  }
  for (live_peer& p : peers) {
    if (p.runs.empty()) continue;
    peer_record pr;
    pr.workload = name;
    pr.case_name = c.bcase->name;
    pr.size = c.size;
    pr.peer = p.spec.peer;
    pr.variant = p.spec.variant;
    pr.time = summarize(p.runs);
    peer_times[peer_key(p.spec)] = {c.size, pr.time.median};
    pr.stop = p.slow ? "budget" : stop;
    pr.detail = p.detail;
    st.rep.peers.push_back(std::move(pr));
  }
  armed.clear();  // executors and prepared inputs go before the next cell is built
  st.rep.runs.push_back(std::move(rr));
  ++st.cells_done;
}

nlohmann::json measure_ceilings(session& sess, progress_line& progress, unsigned workers) {
  progress.show("bench: measuring this machine's ceilings (FMA peak, read bandwidth)");
  const fma_peak fma = measure_fma_peak(workers);
  const double read_gbs = measure_read_bandwidth(workers);
  std::optional<gpu_ceilings> g;
  if (gpu::available()) {
    progress.show("bench: measuring the GPU's bandwidths");
    g = measure_gpu(sess.gpu());
  }
  return ceilings_json(fma, read_gbs, g ? &*g : nullptr);
}

std::string num(double v, const char* fmt = "%.3g") {
  char buf[48];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// The terminal report: what was measured on, the ceilings, one table per cell, then the
// crossovers and the peers that could not run.
void print_bench_tables(std::ostream& out, const report& r, const nlohmann::json& doc) {
  const nlohmann::json& mach = doc.at("machine");
  const nlohmann::json& cpu = mach.at("cpu");
  out << "Machine: " << cpu.value("model", std::string("unknown CPU")) << ", " << cpu.value("logical_cores", 0)
      << " logical cores, " << cpu.value("simd", std::string("?")) << "; GPU: ";
  const nlohmann::json& g = mach.at("gpu");
  if (g.contains("devices") && !g.at("devices").empty()) out << g.at("devices").at(0).value("name", std::string("?"));
  else out << "none (" << g.value("reason", std::string("?")) << ")";
  out << "; tandem " << doc.value("tandem_version", std::string("?"));
  if (mach.contains("build") && mach.at("build").contains("git_revision"))
    out << " (" << mach.at("build").at("git_revision").get<std::string>() << ")";
  out << "\n";
  if (mach.contains("build")) {
    const nlohmann::json& b = mach.at("build");
    out << "Build: " << b.value("compiler", std::string("?"));
    if (b.contains("libraries") && b.at("libraries").is_object())
      for (const auto& [lib, version] : b.at("libraries").items())
        if (version.is_string() && lib != "C++ compiler") out << "; " << lib << " " << version.get<std::string>();
    out << "\n";
  }
  if (const ranks::world_info& w = ranks::world(); w.active)
    out << "MPI: " << w.size << (w.size == 1 ? " rank" : " ranks") << " (" << w.implementation << ", thread level "
        << w.thread_level << "); each runs its share of the chunks on the backend below; peers run on rank 0\n";
  if (r.ceilings.is_object()) {
    const nlohmann::json& fma = r.ceilings.at("fma_gflops");
    out << "Ceilings: FMA peak " << num(fma.at("f64").get<double>(), "%.1f") << " GFLOP/s f64, "
        << num(fma.at("f32").get<double>(), "%.1f") << " f32 (" << fma.at("simd").get<std::string>() << ", "
        << fma.at("cores").get<unsigned>() << " threads); read pass " << num(r.ceilings.at("read_gbs").get<double>(), "%.1f")
        << " GB/s";
    if (const nlohmann::json& gc = r.ceilings.at("gpu"); gc.is_object())
      out << "; GPU " << gc.at("device").get<std::string>() << ": peak " << num(gc.at("peak_gbs").get<double>(), "%.0f")
          << " GB/s, device copy " << num(gc.at("d2d_gbs").get<double>(), "%.0f") << " GB/s, host to device "
          << num(gc.at("h2d_gbs").get<double>(), "%.1f") << " GB/s";
    out << "\n";
  }
  out << "\n";
  for (const run_report& rr : r.runs) {
    print_table(out, rr, r.peers, r.ceilings);
    out << "\n";
  }
  if (doc.contains("crossovers") && !doc.at("crossovers").empty()) {
    out << "Crossovers (the size from which a backend is faster, at every larger size measured):\n";
    for (const nlohmann::json& x : doc.at("crossovers")) {
      out << "  " << x.value("workload", std::string());
      if (!x.value("case", std::string()).empty()) out << " (" << x.at("case").get<std::string>() << ")";
      out << ": " << x.value("backend", std::string()) << " vs " << x.value("versus", std::string()) << ": ";
      if (x.contains("size") && x.at("size").is_number())
        out << "from " << size_words(x.at("size").get<double>(), x.value("size_unit", std::string()));
      else out << "never";
      if (!x.value("note", std::string()).empty()) out << " (" << x.at("note").get<std::string>() << ")";
      out << "\n";
    }
    out << "\n";
  }
  for (const peer_skip& p : r.peers_skipped)
    out << "Peer skipped: " << p.workload << ": " << p.peer << ": " << p.reason
        << (p.package.empty() ? "" : " (provided by " + p.package + ")") << "\n";
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto f = std::make_shared<bench_flags>();
  auto* cmd = app.add_subcommand(
      "bench", "Every workload on every backend over a ladder of sizes, beside the peers, with a report to keep");
  add_common_flags(*cmd, f->common, "seq,threads,procs,gpu");
  cmd->get_option("--repeat")->description("Timed runs per backend and size: a fixed count instead of repeating until the median is stable");
  cmd->add_option("--workloads", f->workloads, "Comma list of workloads to run (default: all)")->check(non_empty());
  cmd->add_option("--sizes", f->sizes,
                  "small, default, large (each workload's ladder), or a comma list of sizes applied to every workload")
      ->check(non_empty())
      ->capture_default_str();
  cmd->add_option("--budget", f->budget,
                  "Seconds of timed runs for the whole bench, shared by its cells (each workload size); a cell "
                  "stops earlier when its medians are stable")
      ->check(finite_number(0.1, 1e6))
      ->capture_default_str();
  cmd->add_option("--target-ci", f->target_ci,
                  "Stop repeating a cell when every median's 95% interval is within this fraction of it")
      ->check(finite_number(0.001, 1))
      ->capture_default_str();
  cmd->add_option("--min-runs", f->min_runs, "Timed runs before a cell may stop as stable")
      ->check(whole_number(1, 100000))
      ->capture_default_str();
  cmd->add_option("--max-runs", f->max_runs, "Timed runs after which a cell stops")
      ->check(whole_number(1, 100000))
      ->capture_default_str();
  cmd->add_option("--peers", f->peers,
                  "Folder of the published peer programs (e.g. ../shared/peers): measure the peers installed here "
                  "beside Tandem, in the same rounds")
      ->type_name("DIR")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--quick", f->quick, "The smallest sizes only (same as --sizes small)");
  cmd->add_flag("--csv", f->csv, "Print CSV on stdout instead of tables");
  cmd->add_flag("--markdown", f->markdown, "Print Markdown on stdout instead of tables");
  cmd->add_option("--html", f->html, "Also write a self-contained HTML report with charts to this file")
      ->check(non_empty());
  cmd->add_option("--compare", f->compare,
                  "A JSON report of an earlier run: say per result whether this run is faster, slower or the same, "
                  "and exit 4 when anything regressed by more than --fail-above percent")
      ->check(non_empty());
  cmd->add_option("--fail-above", f->fail_above, "With --compare: the slowdown, in percent, that fails the run")
      ->check(finite_number(0, 1e6))
      ->capture_default_str();
  cmd->add_flag("--calibrate", f->calibrate,
                "Measure where threads and the GPU start to win for each workload, and store it for --backend "
                "auto (in the user's cache directory)");
  cmd->add_flag("--progress", f->progress, "Show progress on stderr even when it is not a terminal");

  cmd->callback([f, cmd] {
    ranks::start();
    f->repeat_given = cmd->get_option("--repeat")->count() > 0;
    if (int(f->csv) + int(f->markdown) + int(f->common.json) > 1)
      throw usage_error("--json, --csv and --markdown each replace the tables: give one");
    if (f->min_runs > f->max_runs) throw usage_error("--min-runs is larger than --max-runs");
    std::optional<out_file> out, html;
    std::optional<nlohmann::json> old_doc;
    std::vector<cell> cells;
    ranks::agreed([&] {
      cells = plan_cells(*f);
      if (!ranks::is_root()) return;
      out = out_destination(f->common);  // before the runs: exit 2 if unwritable
      if (!f->html.empty()) html.emplace(f->html);
      // Two documents onto one file would leave only the second. (--out onto --compare's report
      // is allowed: that report is read before the runs, and replacing it keeps a rolling baseline.)
      if (out && html) ordered_file_sink::check_not_input(f->html, f->common.out, "--out");
      if (!f->compare.empty()) old_doc = read_report_file(f->compare);
    });

    report r;
    r.command = "bench";
    session sess;  // one GPU context for every cell
    progress_line progress(ranks::is_root() && (f->progress || ::isatty(STDERR_FILENO)));
    bench_state st{*f, to_run_options(f->common), r, sess, progress, {}, clock_type::now(), 0, 0, 0};
    st.cells_total = cells.size();
    st.cell_budget = cells.empty() ? f->budget : f->budget / double(cells.size());
    r.settings = {{"sizes", f->quick ? "small" : (f->sizes == "small" || f->sizes == "default" || f->sizes == "large"
                                                      ? f->sizes
                                                      : "explicit")},
                  {"budget_s", f->budget},
                  {"target_rel_ci", f->target_ci},
                  {"min_runs", f->min_runs},
                  {"max_runs", f->max_runs},
                  {"warmup", f->common.warmup}};
    if (f->repeat_given) r.settings["repeat"] = f->common.repeat;
    if (ranks::is_root())
      r.ceilings = measure_ceilings(sess, progress, st.options.workers.value_or(default_workers(backend::threads)));
    for (const cell& c : cells) run_cell(st, c);
    progress.clear();
    if (!ranks::is_root()) return;

    const machine_info m = describe_machine();
    nlohmann::json doc = report_json(m, r);
    // --calibrate also stores them where --backend auto finds them (calibration.hpp).
    r.crossovers = f->calibrate ? calibrate_from(doc, std::cerr) : find_crossovers(doc);
    doc["crossovers"] = r.crossovers;

    int status = exit_ok;
    const std::string text = doc.dump(2) + "\n";
    if (out) out->write(text);
    if (html) html->write(report_html(doc));
    if (f->common.json) std::cout << text;
    else if (f->csv) std::cout << report_csv(doc);
    else if (f->markdown) std::cout << report_markdown(doc);
    else print_bench_tables(std::cout, r, doc);
    if (!r.agree()) {
      for (const run_report& rr : r.runs)
        if (!rr.agree) std::cerr << "tandem: error: backends disagree: " << rr.disagreement << "\n";
      status = exit_failure;
    }
    if (old_doc) {
      const comparison cmp = compare_reports(*old_doc, doc, f->fail_above);
      print_comparison(f->common.json || f->csv || f->markdown ? std::cerr : std::cout, cmp);
      if (cmp.any_regressed && status == exit_ok) status = exit_regression;
    }
    if (status != exit_ok) throw exit_status{status};
  });
}

}  // namespace tandem::cli
