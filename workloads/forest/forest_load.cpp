// load_model: reads a model file and hands it to the loader its content names; the links.
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/stat.h>

#include "forest_loaders.hpp"
#include "tandem/errors.hpp"

namespace tandem::forest {

void malformed(const std::string& path, const std::string& what) {
  // `what` may quote the file (a JSON string's escapes decoded: "\n", "\u0000"): control
  // characters become '?', so the message stays one line.
  std::string line = what;
  for (char& c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  throw usage_error("model '" + path + "': " + line);
}

namespace {
// Larger model files are refused before reading: 16 GiB of text is ~100 M nodes.
constexpr std::uint64_t max_model_bytes = std::uint64_t{16} << 30;

std::string read_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw usage_error("cannot open model '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw usage_error("cannot open model '" + path + "': not a regular file");
  if (std::uint64_t(st.st_size) > max_model_bytes) malformed(path, "larger than 16 GiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw usage_error("cannot open model '" + path + "': " + std::strerror(errno));
  if (st.st_size == 0) {
    if (in.peek() != std::ifstream::traits_type::eof())
      throw usage_error("cannot open model '" + path +
                        "': reports a size of 0 but has content (a /proc or /sys file?); copy it to a regular file first");
    in.clear();  // peek's end of file: the file is empty, which load_model reports
  }
  std::string text;
  // Spare capacity past the end lets the JSON loaders parse the text in place: simdjson reads up
  // to 64 bytes (SIMDJSON_PADDING) beyond it, and would otherwise copy the whole file.
  text.reserve(std::size_t(st.st_size) + 64);
  text.resize(std::size_t(st.st_size));
  in.read(text.data(), std::streamsize(text.size()));
  if (!in || in.gcount() != std::streamsize(text.size()))
    throw usage_error("cannot read model '" + path + "': " + std::strerror(errno));
  return text;
}
}  // namespace

forest_model load_model(const std::string& path) {
  const std::string text = read_file(path);
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) malformed(path, "the file is empty");
  if (text[first] == '{') {
    // Both JSON formats: Tandem's names itself in "format"; XGBoost's has "learner".
    const std::size_t probe = std::min<std::size_t>(text.size(), 4096);
    if (text.find("\"tandem-forest\"", 0) < probe) return load_tandem_json(text, path);
    return load_xgboost_json(text, path);
  }
  if (text.compare(first, 5, "tree\n") == 0 || text.compare(first, 6, "tree\r\n") == 0)
    return load_lightgbm_text(text, path);
  malformed(path, "not a model this version reads (XGBoost JSON, LightGBM text, or Tandem forest JSON from "
                  "tools/export_sklearn.py); XGBoost's binary and UBJSON formats: save the model as .json");
}

void margins_to_proba(const forest_model& m, const double* margins, double* proba) {
  switch (m.post) {
    case link::identity:
      for (std::uint32_t i = 0; i < m.proba_columns; ++i) proba[i] = margins[i];
      return;
    case link::exp:
      // In the sum precision: XGBoost (float sums) transforms with expf, LightGBM with double exp.
      for (std::uint32_t i = 0; i < m.proba_columns; ++i)
        proba[i] = m.sum == precision::f32 ? double(std::exp(float(margins[i]))) : std::exp(margins[i]);
      return;
    case link::xgboost_sigmoid:
    case link::xgboost_softmax: xgboost_proba(m, margins, proba); return;
    case link::lightgbm_sigmoid:
    case link::lightgbm_softmax: lightgbm_proba(m, margins, proba); return;
    case link::sklearn_expit:
    case link::sklearn_softmax:
    case link::sklearn_logsumexp: sklearn_proba(m, margins, proba); return;
  }
}

std::size_t predicted_class(const forest_model& m, const double* proba) {
  if (m.classes.size() == 1) return 0;                       // one class, one column
  if (m.proba_columns == 1) return proba[0] > 0.5 ? 1 : 0;  // binary, one column: P(class 1)
  std::size_t best = 0;
  for (std::uint32_t i = 1; i < m.proba_columns; ++i)
    if (proba[i] > proba[best]) best = i;  // the first largest, as numpy's argmax
  return best;
}

}  // namespace tandem::forest
