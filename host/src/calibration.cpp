#include "tandem/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <ostream>
#include <set>
#include <sstream>
#include <system_error>
#include <vector>

#include "tandem/build_config.hpp"
#include "tandem/env.hpp"
#include "tandem/errors.hpp"
#include "tandem/io/ordered_file_sink.hpp"

namespace tandem {

namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr int file_schema_version = 1;
// A calibration file is a few kilobytes; anything this large is not one, and is not read into memory.
constexpr std::uintmax_t max_file_bytes = std::uintmax_t{16} << 20;
const char* const parallel_backends[] = {"threads", "procs", "gpu"};
const char* const cpu_backends[] = {"seq", "threads", "procs"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string strip_rate(std::string unit) {
  if (unit.size() > 2 && unit.compare(unit.size() - 2, 2, "/s") == 0) unit.resize(unit.size() - 2);
  return unit;
}

// ---- finding crossovers ----------------------------------------------------------------------

struct point {
  double work = 0;    // work per run, in the workload's unit
  double median = 0;  // seconds
};

struct group {
  std::string workload, kase, size_unit, work_unit;
  std::map<double, std::map<std::string, point>> at;  // size -> backend -> point
  std::map<std::string, std::string> skipped;         // backend -> reason
  bool has(const std::string& b) const {
    if (skipped.count(b)) return true;
    for (const auto& [size, by] : at)
      if (by.count(b)) return true;
    return false;
  }
};

std::string string_or(const json& j, const char* key, std::string fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::optional<double> number_at(const json& j, const json::json_pointer& p) {
  if (!j.contains(p)) return std::nullopt;
  const json& v = j.at(p);
  if (!v.is_number()) return std::nullopt;
  const double d = v.get<double>();
  return std::isfinite(d) ? std::optional<double>(d) : std::nullopt;
}

std::vector<group> groups_of(const json& doc) {
  std::vector<group> groups;
  std::map<std::pair<std::string, std::string>, std::size_t> index;
  auto find = [&](const json& r) -> group& {
    const std::pair<std::string, std::string> key{string_or(r, "workload", ""), string_or(r, "case", "")};
    auto [it, fresh] = index.try_emplace(key, groups.size());
    if (fresh) {
      groups.emplace_back();
      groups.back().workload = key.first;
      groups.back().kase = key.second;
    }
    return groups[it->second];
  };
  if (const auto rs = doc.find("results"); rs != doc.end() && rs->is_array()) {
    for (const json& r : *rs) {
      if (!r.is_object()) continue;
      const std::string b = string_or(r, "backend", "");
      // An `auto` row repeats the row of the backend it chose.
      if (string_or(r, "requested_backend", b) != b || b.empty()) continue;
      const auto size = number_at(r, "/size"_json_pointer);
      const auto median = number_at(r, "/time_s/median"_json_pointer);
      if (!size || !median || *median <= 0) continue;
      group& g = find(r);
      const std::string size_unit = string_or(r, "size_unit", "");
      if (g.size_unit.empty()) g.size_unit = size_unit;
      const auto work = number_at(r, "/work/per_run"_json_pointer);
      if (g.work_unit.empty()) {
        const auto w = r.find("work");
        g.work_unit = work && w->is_object() ? strip_rate(string_or(*w, "unit", size_unit)) : size_unit;
      }
      g.at[*size][b] = {work.value_or(*size), *median};
    }
  }
  if (const auto ss = doc.find("skipped"); ss != doc.end() && ss->is_array()) {
    for (const json& s : *ss) {
      if (!s.is_object()) continue;
      const std::string b = string_or(s, "backend", "");
      if (b.empty()) continue;
      find(s).skipped.emplace(b, string_or(s, "reason", "skipped"));
    }
  }
  return groups;
}

struct compared {
  double size, work, ratio;  // ratio: the backend's median / the reference's
};

// The sizes where both the backend and its reference ran, ascending.
std::vector<compared> compare(const group& g, const std::string& b) {
  std::vector<compared> out;
  for (const auto& [size, by] : g.at) {
    const auto mine = by.find(b);
    if (mine == by.end()) continue;
    double ref = 0;
    if (b == "gpu") {
      for (const char* c : cpu_backends)
        if (const auto it = by.find(c); it != by.end() && (ref == 0 || it->second.median < ref)) ref = it->second.median;
    } else if (const auto it = by.find("seq"); it != by.end()) {
      ref = it->second.median;
    }
    if (ref > 0) out.push_back({size, mine->second.work, mine->second.median / ref});
  }
  return out;
}

json crossover_entry(const group& g, const std::string& b) {
  const std::string versus = b == "gpu" ? "best_cpu" : "seq";
  const std::string versus_words = b == "gpu" ? "the fastest CPU backend's" : "seq's";
  json e = {{"workload", g.workload}, {"case", g.kase},         {"backend", b},
            {"versus", versus},       {"work_per_run", nullptr}, {"size", nullptr},
            {"size_unit", g.size_unit}, {"work_unit", g.work_unit}, {"bracket", nullptr},
            {"sizes_compared", 0},    {"note", ""}};
  const std::vector<compared> c = compare(g, b);
  if (c.empty()) {
    if (const auto s = g.skipped.find(b); s != g.skipped.end())
      e["note"] = "not measured: " + b + " skipped (" + s->second + ")";
    else
      e["note"] = "not measured: " + (b == "gpu" ? std::string("no CPU backend") : std::string("seq")) +
                  " ran at no size " + b + " ran at";
    return e;
  }
  e["sizes_compared"] = c.size();
  const std::size_t n = c.size();
  std::size_t k = n;  // the first size from which every ratio is below 1
  while (k > 0 && c[k - 1].ratio < 1) --k;
  const std::string only_one = n == 1 ? "; only one size measured" : "";
  // A win below the crossover that did not last: said, so a reader of a noisy run can judge.
  std::string earlier;
  for (std::size_t i = 0; i + 1 < k; ++i)
    if (c[i].ratio < 1) {
      earlier = "; also faster at " + num(c[i].size) + " " + g.size_unit + ", but not at every size after it";
      break;
    }
  if (k == n) {
    e["note"] = "not faster at any size measured (up to " + num(c.back().size) + " " + g.size_unit + ")" + only_one + earlier;
    return e;
  }
  if (k == 0) {
    e["work_per_run"] = c[0].work;
    e["size"] = c[0].size;
    e["note"] = "faster from the smallest size measured (" + num(c[0].size) + " " + g.size_unit + ", " +
                num(c[0].ratio) + "x " + versus_words + " time)" + only_one;
    return e;
  }
  // Between the last losing size (ratio >= 1) and the first winning one (< 1): where log(ratio)
  // crosses 0, on a straight line in log(size) and in log(work).
  const compared& lo = c[k - 1];
  const compared& hi = c[k];
  const double y0 = std::log(lo.ratio), y1 = std::log(hi.ratio);
  const double t = y0 / (y0 - y1);  // in (0, 1]: y0 >= 0 > y1
  auto between = [t](double a, double z) {
    return a > 0 && z > 0 ? std::exp(std::log(a) + t * (std::log(z) - std::log(a))) : a + t * (z - a);
  };
  e["work_per_run"] = between(lo.work, hi.work);
  e["size"] = between(lo.size, hi.size);
  e["bracket"] = {lo.size, hi.size};
  e["note"] = "crosses between " + num(lo.size) + " and " + num(hi.size) + " " + g.size_unit + " (" + num(lo.ratio) +
              "x then " + num(hi.ratio) + "x " + versus_words + " time), interpolated log-log" + earlier;
  return e;
}

// ---- the file --------------------------------------------------------------------------------

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

json machine_json(const calibration_machine& m) {
  return {{"cpu", m.cpu}, {"logical_cores", m.logical_cores}, {"gpu", m.gpu ? json(*m.gpu) : json(nullptr)}};
}

using entry_key = std::pair<std::string, std::string>;

// find_crossovers' array as the file's entries, one per (workload, case).
std::map<entry_key, json> file_entries(const json& crossovers) {
  std::map<entry_key, json> out;
  if (!crossovers.is_array()) return out;
  for (const json& c : crossovers) {
    if (!c.is_object() || c.value("sizes_compared", 1) == 0) continue;
    const std::string b = string_or(c, "backend", "");
    if (std::find(std::begin(parallel_backends), std::end(parallel_backends), b) == std::end(parallel_backends)) continue;
    const entry_key key{string_or(c, "workload", ""), string_or(c, "case", "")};
    json& e = out[key];
    if (e.is_null())
      e = {{"workload", key.first}, {"case", key.second},
           {"unit", strip_rate(string_or(c, "work_unit", string_or(c, "size_unit", "")))}};
    const auto w = c.find("work_per_run");
    e[b] = w != c.end() && w->is_number() ? *w : json(nullptr);
  }
  return out;
}

void write_entries(const std::map<entry_key, json>& entries, const machine_info& m, const std::string& path) {
  if (path.empty())
    throw usage_error("no place for the calibration file: set TANDEM_CALIBRATION, XDG_CACHE_HOME or HOME");
  json list = json::array();
  for (const auto& [key, e] : entries) list.push_back(e);
  const json doc = {{"schema_version", file_schema_version},
                    {"what", "crossovers measured by `tandem bench --calibrate`, read by `--backend auto` "
                             "(docs/execution-model.md)"},
                    {"made", utc_now()},
                    {"tandem_version", TANDEM_VERSION_STRING},
                    {"machine", machine_json(calibration_machine::of(m))},
                    {"crossovers", std::move(list)}};
  const fs::path folder = fs::path(path).parent_path();
  if (!folder.empty()) {
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) throw usage_error("cannot create '" + folder.string() + "' for the calibration file: " + ec.message());
  }
  ordered_file_sink out(path);
  out.write(doc.dump(2) + "\n");
  out.commit();
}

[[noreturn]] void malformed(const std::string& path, const std::string& what) {
  throw usage_error("calibration file '" + path + "': " + what +
                    "; re-run `tandem bench --calibrate` or delete it");
}

std::optional<double> crossover_value(const std::string& path, const json& v, const std::string& where) {
  if (v.is_null()) return std::nullopt;
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0)
    malformed(path, where + " is not a work amount (a number >= 0) or null");
  return v.get<double>();
}

calibration parse_file(const std::string& path, const std::string& text) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    malformed(path, std::string("not JSON (") + e.what() + ")");
  }
  if (!doc.is_object()) malformed(path, "not a JSON object");
  const auto version = doc.find("schema_version");
  if (version == doc.end() || !version->is_number_integer()) malformed(path, "no schema_version");
  if (*version != file_schema_version)
    malformed(path, "schema_version " + version->dump() + " (this Tandem reads " + std::to_string(file_schema_version) + ")");
  calibration cal;
  cal.path = path;
  cal.made = string_or(doc, "made", "");
  cal.tandem_version = string_or(doc, "tandem_version", "");
  const auto m = doc.find("machine");
  if (m == doc.end() || !m->is_object()) malformed(path, "no machine");
  const auto cpu = m->find("cpu");
  const auto cores = m->find("logical_cores");
  const auto gpu = m->find("gpu");
  if (cpu == m->end() || !cpu->is_string()) malformed(path, "machine.cpu is not a string");
  if (cores == m->end() || !cores->is_number_unsigned()) malformed(path, "machine.logical_cores is not a count");
  if (gpu == m->end() || !(gpu->is_string() || gpu->is_null())) malformed(path, "machine.gpu is not a name or null");
  cal.machine.cpu = cpu->get<std::string>();
  cal.machine.logical_cores = cores->get<unsigned>();
  if (gpu->is_string()) cal.machine.gpu = gpu->get<std::string>();
  const auto list = doc.find("crossovers");
  if (list == doc.end() || !list->is_array()) malformed(path, "no crossovers list");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& e = (*list)[i];
    const std::string where = "crossovers[" + std::to_string(i) + "]";
    if (!e.is_object()) malformed(path, where + " is not an object");
    const auto w = e.find("workload");
    const auto k = e.find("case");
    const auto u = e.find("unit");
    if (w == e.end() || !w->is_string() || w->get<std::string>().empty()) malformed(path, where + ".workload is not a name");
    if (k != e.end() && !k->is_string()) malformed(path, where + ".case is not a string");
    if (u == e.end() || !u->is_string()) malformed(path, where + ".unit is not a string");
    calibrated_crossovers c;
    c.unit = u->get<std::string>();
    for (const char* b : parallel_backends)
      if (const auto v = e.find(b); v != e.end()) c.from[b] = crossover_value(path, *v, where + "." + b);
    const entry_key key{w->get<std::string>(), k != e.end() ? k->get<std::string>() : ""};
    if (!cal.crossovers.emplace(key, std::move(c)).second)
      malformed(path, where + " repeats " + key.first + (key.second.empty() ? "" : " " + key.second));
  }
  return cal;
}

std::mutex loaded_mutex;
std::optional<std::optional<calibration>> loaded;  // outer: whether the file was read yet
}  // namespace

nlohmann::json find_crossovers(const nlohmann::json& doc) {
  json out = json::array();
  for (const group& g : groups_of(doc))
    for (const char* b : parallel_backends)
      if (g.has(b)) out.push_back(crossover_entry(g, b));
  return out;
}

std::string calibration_path() {
  if (std::string p = env("TANDEM_CALIBRATION"); !p.empty()) return p;
  // The XDG base directory rule: a relative XDG_CACHE_HOME is invalid and ignored.
  if (const std::string x = env("XDG_CACHE_HOME"); !x.empty() && x.front() == '/')
    return (fs::path(x) / "tandem" / "crossovers.json").string();
  if (const std::string h = env("HOME"); !h.empty()) return (fs::path(h) / ".cache" / "tandem" / "crossovers.json").string();
  return "";
}

calibration_machine calibration_machine::of(const machine_info& m) {
  calibration_machine c;
  c.cpu = m.cpu_model;
  c.logical_cores = m.logical_cores;
  if (!m.gpus.devices.empty()) c.gpu = m.gpus.devices.front().name;
  return c;
}

std::string calibration_machine::describe() const {
  return cpu + ", " + std::to_string(logical_cores) + " logical cores, " + (gpu ? *gpu : std::string("no GPU"));
}

void write_calibration(const nlohmann::json& crossovers, const machine_info& m, const std::string& path) {
  write_entries(file_entries(crossovers), m, path);
}

std::optional<calibration> load_calibration() { return load_calibration(calibration_path()); }

std::optional<calibration> load_calibration(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) return std::nullopt;
  if (ec) malformed(path, "cannot be read (" + ec.message() + ")");
  if (!fs::is_regular_file(st)) malformed(path, "not a regular file");
  if (fs::file_size(path, ec) > max_file_bytes || ec) malformed(path, "larger than a calibration file can be");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) malformed(path, "cannot be read");
  calibration cal = parse_file(path, text.str());

  // Crossovers hold for the machine they were measured on. A GPU hidden by TANDEM_DISABLE_GPU
  // does not make this another machine: the gpu cannot be chosen then anyway.
  const calibration_machine here = calibration_machine::of(describe_machine());
  const bool gpu_differs = gpu_disabled_by_environment().empty() && here.gpu != cal.machine.gpu;
  if (here.cpu != cal.machine.cpu || here.logical_cores != cal.machine.logical_cores || gpu_differs)
    cal.ignored = "measured on another machine (" + cal.machine.describe() + "; this one: " + here.describe() + ")";
  return cal;
}

std::optional<calibration> calibration_for_auto() {
  const std::lock_guard<std::mutex> lock(loaded_mutex);
  if (!loaded) loaded.emplace(load_calibration());
  return *loaded;
}

void forget_loaded_calibration() {
  const std::lock_guard<std::mutex> lock(loaded_mutex);
  loaded.reset();
}

nlohmann::json calibrate_from(const nlohmann::json& doc, std::ostream& notes) {
  return calibrate_from(doc, notes, calibration_path());
}

nlohmann::json calibrate_from(const nlohmann::json& doc, std::ostream& notes, const std::string& path) {
  if (path.empty())
    throw usage_error("no place for the calibration file: set TANDEM_CALIBRATION, XDG_CACHE_HOME or HOME");
  const json crossovers = find_crossovers(doc);
  std::map<entry_key, json> entries = file_entries(crossovers);
  const std::size_t measured = entries.size();
  // Keep what an earlier calibration on this machine measured for other workloads and cases; a
  // file that cannot be read, or one from another machine, is replaced.
  std::size_t kept = 0;
  try {
    if (const std::optional<calibration> old = load_calibration(path); old && old->ignored.empty()) {
      for (const auto& [key, c] : old->crossovers) {
        if (entries.count(key)) continue;
        json e = {{"workload", key.first}, {"case", key.second}, {"unit", c.unit}};
        for (const auto& [b, v] : c.from) e[b] = v ? json(*v) : json(nullptr);
        entries.emplace(key, std::move(e));
        ++kept;
      }
    }
  } catch (const usage_error& e) {
    notes << "calibration: replacing " << e.what() << '\n';
  }
  write_entries(entries, describe_machine(), path);
  forget_loaded_calibration();
  notes << "calibration: wrote crossovers for " << measured << (measured == 1 ? " workload case" : " workload cases")
        << (kept ? " (and kept " + std::to_string(kept) + " from the earlier calibration)" : std::string()) << " to "
        << path << "; --backend auto uses them on this machine\n";
  for (const json& c : crossovers) {
    const std::string kase = c.at("case").get<std::string>();
    notes << "  " << c.at("workload").get<std::string>() << (kase.empty() ? "" : " " + kase) << ": "
          << c.at("backend").get<std::string>() << " vs " << c.at("versus").get<std::string>() << ": ";
    if (c.at("work_per_run").is_number())
      notes << "from " << num(c.at("work_per_run").get<double>()) << " " << c.at("work_unit").get<std::string>()
            << " per run";
    else
      notes << (c.at("sizes_compared") == 0 ? "not measured" : "never");
    notes << " (" << c.at("note").get<std::string>() << ")\n";
  }
  return crossovers;
}

}  // namespace tandem
