// The peers of each bench case, from the case's params at its size (docs/peers.md).
#include "bench_peers.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <thread>

namespace tandem::cli {

namespace {
namespace fs = std::filesystem;

// The system interpreter: Debian's numpy, scikit-learn and XGBoost are installed for it; the first
// python3 on PATH may be another one.
constexpr const char* system_python = "/usr/bin/python3";

fs::path executable_dir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : self.parent_path();
}

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// A number of the params as an argument: integers as integers, doubles in shortest round-trip form.
std::string arg(const nlohmann::json& params, const char* key, const std::string& fallback) {
  if (!params.contains(key)) return fallback;
  const nlohmann::json& v = params[key];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

template <class T>
T num(const nlohmann::json& params, const char* key, T fallback) {
  return params.contains(key) && params[key].is_number() ? params[key].get<T>() : fallback;
}

std::string str(const nlohmann::json& params, const char* key, const std::string& fallback) {
  return params.contains(key) && params[key].is_string() ? params[key].get<std::string>() : fallback;
}

// The count-matches pattern back from its printable form in the params (count_matches.cpp writes
// every byte outside printable ASCII, and the backslash, as \xNN).
std::string unprintable(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] == 'x') {
      const std::string hex = s.substr(i + 2, 2);
      char* end = nullptr;
      const long v = std::strtol(hex.c_str(), &end, 16);
      if (hex.size() == 2 && end == hex.c_str() + 2) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

unsigned cores() { return std::max(1u, std::thread::hardware_concurrency()); }

struct builder {
  std::string workload, case_name, published;
  std::vector<peer_spec> out;

  // A Python peer: /usr/bin/python3 SCRIPT ARGS...
  void python(const std::string& peer, const std::string& variant, const std::string& package,
              const std::string& script, std::vector<std::string> args) {
    peer_spec s{workload, case_name, peer, variant, package, {}, {}};
    const fs::path path = fs::path(peers_script_dir()) / script;
    s.argv = {system_python, path.string()};
    s.argv.insert(s.argv.end(), args.begin(), args.end());
    if (!fs::exists(system_python)) {
      s.package = "python3";
      s.missing = std::string(system_python) + " not found";
    } else if (!fs::exists(path)) {
      s.missing = path.string() + " not found (set TANDEM_PEERS_DIR to Tandem's bench/peers)";
    }
    out.push_back(std::move(s));
  }
  // A C++ peer built with Tandem.
  void program(const std::string& peer, const std::string& variant, const std::string& package,
               const std::string& name, std::vector<std::string> args) {
    peer_spec s{workload, case_name, peer, variant, package, {}, {}};
    const std::string path = peer_program(name);
    s.argv = {path.empty() ? name : path};
    s.argv.insert(s.argv.end(), args.begin(), args.end());
    if (path.empty()) s.missing = name + " was not built";
    out.push_back(std::move(s));
  }
  std::vector<std::string> with_published(std::vector<std::string> args) const {
    if (!published.empty()) {
      args.push_back("--published");
      args.push_back(published);
    }
    return args;
  }
};

void tasks_peers(builder& b, const nlohmann::json& p) {
  const std::vector<std::string> size = {"--n", arg(p, "n", "10000000"), "--count", arg(p, "count", "4")};
  for (const auto& [variant, name] : {std::pair{"seq", "sequential"}, std::pair{"threads", "ThreadPoolExecutor"},
                                      std::pair{"procs", "ProcessPoolExecutor"}}) {
    std::vector<std::string> a = size;
    a.insert(a.end(), {"--variant", variant});
    b.python("Python concurrent.futures (published example)", name, "python3", "tasks_peer.py", b.with_published(a));
  }
}

void montecarlo_peers(builder& b, const nlohmann::json& p) {
  // Plain sampling only: the peers have no options, antithetic pairs or Sobol points.
  if (p.contains("option") || str(p, "qmc", "none") != "none" || (p.contains("antithetic") && p["antithetic"] == true))
    return;
  const std::vector<std::string> model = {"--paths", arg(p, "paths", "10000"), "--steps", arg(p, "steps", "252"),
                                          "--s0",    arg(p, "s0", "100"),      "--sigma", arg(p, "sigma", "0.02"),
                                          "--mu",    arg(p, "mu", "0"),        "--dt",    arg(p, "dt", "1"),
                                          "--seed",  arg(p, "seed", "42")};
  for (const auto& [variant, name] : {std::pair{"loop", "per-path loop"}, std::pair{"numpy", "NumPy vectorised"}}) {
    std::vector<std::string> a = model;
    a.insert(a.end(), {"--variant", variant});
    b.python("Python (published example)", name, "python3-numpy", "montecarlo_peer.py", b.with_published(a));
  }
  b.program("QuantLib", "MCEuropeanEngine (1 thread)", "libquantlib0-dev (then rebuild Tandem)",
            "tandem-peer-quantlib-mc",
            {"--paths", arg(p, "paths", "10000"), "--steps", arg(p, "steps", "252"), "--s0", arg(p, "s0", "100"),
             "--sigma", arg(p, "sigma", "0.02"), "--dt", arg(p, "dt", "1"), "--seed", arg(p, "seed", "42")});
}

void reduce_peers(builder& b, const nlohmann::json& p) {
  const std::string op = str(p, "op", "sum");
  if (op == "count-matches") {
    b.python("grep", "grep -c -F (LC_ALL=C)", "grep", "grep_peer.py",
             // --name=value: a pattern that starts with '-' is still the pattern.
             {"--pattern=" + unprintable(str(p, "pattern", "")), "--input=" + str(p, "input", "")});
    return;
  }
  const std::string dtype = str(p, "dtype", "f64");
  std::vector<std::string> a = {"--op", op, "--dtype", dtype};
  if (p.contains("input") && p["input"].is_string()) {
    a.insert(a.end(), {"--input", p["input"].get<std::string>()});
  } else {
    a.insert(a.end(), {"--n", arg(p, "n", "0"), "--dist", str(p, "dist", "normal"), "--seed", arg(p, "seed", "42")});
  }
  b.python("NumPy", op + (dtype == "f32" ? " (float32)" : " (float64)"), "python3-numpy", "reduce_numpy.py", a);
}

void gemm_peers(builder& b, const nlohmann::json& p) {
  const std::string dtype = str(p, "dtype", "f64");
  if (dtype != "f64" && dtype != "f32") return;  // tensor-core types: no CPU peer
  const std::vector<std::string> shape = {"--m",     arg(p, "m", "2000"),      "--n",    arg(p, "n", "2000"),
                                          "--k",     arg(p, "k", "2000"),      "--dtype", dtype,
                                          "--alpha", arg(p, "alpha", "1"),     "--beta", arg(p, "beta", "0")};
  const std::string type = dtype == "f64" ? "float64" : "float32";
  b.python("NumPy", "matmul (" + type + ")", "python3-numpy", "gemm_numpy.py", shape);
  std::vector<std::string> a = shape;
  const std::string threads = std::to_string(cores());
  a.insert(a.end(), {"--threads", threads});
  b.program("OpenBLAS", std::string(dtype == "f64" ? "cblas_dgemm" : "cblas_sgemm") + " (" + threads + " threads)",
            "the tandem_peers build target (OpenBLAS)", "tandem-peer-openblas-gemm", a);
}

void forest_peers(builder& b, const nlohmann::json& p) {
  // Only the synthetic forest has a shape the peers can train to; full trees: nodes = trees (2^(d+1) - 1).
  if (str(p, "model", "synthetic") != "synthetic") return;
  const double trees = num<double>(p, "trees", 100), nodes = num<double>(p, "nodes", 12700);
  if (trees < 1) return;
  const int depth = std::max(1, static_cast<int>(std::lround(std::log2(nodes / trees + 1) - 1)));
  const std::vector<std::string> shape = {"--rows",     arg(p, "rows", "1000000"), "--trees", arg(p, "trees", "100"),
                                          "--depth",    std::to_string(depth),     "--features",
                                          arg(p, "features", "28")};
  auto add = [&](const char* peer, const char* library, const char* package, unsigned threads) {
    std::vector<std::string> a = {"--library", library};
    a.insert(a.end(), shape.begin(), shape.end());
    a.insert(a.end(), {"--threads", std::to_string(threads)});
    b.python(peer, std::to_string(threads) + (threads == 1 ? " thread" : " threads"), package, "forest_peer.py", a);
  };
  add("XGBoost inplace_predict", "xgboost", "python3-xgboost", 1);
  if (cores() > 1) add("XGBoost inplace_predict", "xgboost", "python3-xgboost", cores());
  add("scikit-learn RandomForestClassifier", "sklearn", "python3-sklearn", cores());
  add("LightGBM", "lightgbm", "pip install lightgbm", cores());
}
}  // namespace

std::string peers_script_dir() {
  if (const std::string d = env("TANDEM_PEERS_DIR"); !d.empty()) return d;
  const fs::path installed = executable_dir() / ".." / "share" / "tandem" / "peers";
  std::error_code ec;
  if (fs::exists(installed / "peer_protocol.py", ec)) return installed.lexically_normal().string();
#ifdef TANDEM_SOURCE_PEERS_DIR
  return TANDEM_SOURCE_PEERS_DIR;
#else
  return installed.lexically_normal().string();
#endif
}

std::string peer_program(const std::string& name) {
  std::vector<fs::path> dirs;
  if (const std::string d = env("TANDEM_PEERS_DIR"); !d.empty()) dirs.push_back(d);
  const fs::path bin = executable_dir();
  dirs.push_back(bin);
  dirs.push_back(bin / ".." / "libexec" / "tandem");
  for (const fs::path& d : dirs) {
    const fs::path candidate = d / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate.lexically_normal().string();
  }
  return {};
}

std::vector<peer_spec> bench_peers(const std::string& workload, const std::string& case_name,
                                   const nlohmann::json& params, const std::string& published_dir) {
  builder b{workload, case_name, published_dir, {}};
  if (workload == "tasks") tasks_peers(b, params);
  else if (workload == "montecarlo") montecarlo_peers(b, params);
  else if (workload == "reduce") reduce_peers(b, params);
  else if (workload == "gemm") gemm_peers(b, params);
  else if (workload == "forest") forest_peers(b, params);
  return std::move(b.out);
}

peer_start start_peer(peer_process& p, const peer_spec& spec, double ready_timeout_s) {
  if (!spec.missing.empty()) {
    peer_start s;
    s.status = peer_start::state::skipped;
    s.package = spec.package;
    s.reason = spec.missing;
    return s;
  }
  return p.start(spec.argv, ready_timeout_s);
}

}  // namespace tandem::cli
