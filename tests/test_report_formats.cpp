// The report's CSV, Markdown and HTML, rendered from tests/data/report_v2.json: a bench document
// with two workloads, three sizes, seq/threads/procs/gpu, peers, skips and crossovers, whose
// strings hold markup, quotes, commas, newlines and U+2028. tests/html_report.py loads the page in
// a real browser; these check the text itself.
#include <gtest/gtest.h>

#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tandem/report_formats.hpp"

namespace {

using nlohmann::json;

json fixture() {
  std::ifstream in(TANDEM_REPORT_FIXTURE);
  std::stringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
}

// RFC 4180, written apart from the renderer: quoted fields may hold commas, CR, LF and "" (a quote).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, was_quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') field += '"', ++i;
      else if (c == '"') quoted = false;
      else field += c;
    } else if (c == '"') {
      EXPECT_TRUE(field.empty()) << "quote inside an unquoted field at " << i;
      quoted = was_quoted = true;
    } else if (c == ',') {
      row.push_back(field), field.clear(), was_quoted = false;
    } else if (c == '\r') {
      EXPECT_EQ(text.at(i + 1), '\n') << "CR without LF at " << i;
    } else if (c == '\n') {
      row.push_back(field), field.clear(), was_quoted = false;
      rows.push_back(row), row.clear();
    } else {
      field += c;
    }
  }
  EXPECT_FALSE(quoted) << "unterminated quoted field";
  EXPECT_TRUE(row.empty() && field.empty() && !was_quoted) << "last row not ended by CRLF";
  return rows;
}

double parse_double(const std::string& s) {
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  EXPECT_TRUE(r.ec == std::errc() && r.ptr == s.data() + s.size()) << "not a number: '" << s << "'";
  return v;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

const std::vector<std::string> csv_header = {
    "kind",     "workload", "case",     "size",      "size_unit",  "backend",    "peer",       "variant",
    "workers",  "median_s", "min_s",    "max_s",     "ci95_lo",    "ci95_hi",    "runs",       "stop",
    "throughput", "throughput_unit", "ceiling_kind", "ceiling_fraction", "transfer_s", "speedup_vs_seq",
    "tandem_speedup", "note"};

std::size_t column(const std::string& name) {
  for (std::size_t i = 0; i < csv_header.size(); ++i)
    if (csv_header[i] == name) return i;
  ADD_FAILURE() << "no column " << name;
  return 0;
}

TEST(ReportCsv, OneRowPerResultAndPeerWithExactNumbers) {
  const json doc = fixture();
  const auto rows = parse_csv(tandem::report_csv(doc));
  ASSERT_EQ(rows.size(), 1 + doc["results"].size() + doc["peers"].size());
  ASSERT_EQ(rows.size(), 1u + 21u + 6u);
  EXPECT_EQ(rows[0], csv_header);
  for (const auto& r : rows) ASSERT_EQ(r.size(), csv_header.size());
  // Every number reads back as the document's double, bit for bit.
  for (std::size_t i = 0; i < doc["results"].size(); ++i) {
    const json& r = doc["results"][i];
    const auto& row = rows[1 + i];
    EXPECT_EQ(row[column("kind")], "tandem");
    EXPECT_EQ(row[column("workload")], r["workload"]);
    EXPECT_EQ(row[column("backend")], r["backend"]);
    EXPECT_EQ(parse_double(row[column("size")]), r["size"].get<double>());
    EXPECT_EQ(parse_double(row[column("median_s")]), r["time_s"]["median"].get<double>());
    EXPECT_EQ(parse_double(row[column("ci95_lo")]), r["time_s"]["ci95"][0].get<double>());
    EXPECT_EQ(parse_double(row[column("ci95_hi")]), r["time_s"]["ci95"][1].get<double>());
    EXPECT_EQ(parse_double(row[column("throughput")]), r["throughput"]["value"].get<double>());
    EXPECT_EQ(parse_double(row[column("speedup_vs_seq")]), r["speedup_vs_seq"].get<double>());
    EXPECT_EQ(row[column("transfer_s")].empty(), !r.contains("transfer_s"));
    EXPECT_EQ(row[column("ceiling_fraction")].empty(), !r.contains("ceiling"));
    EXPECT_EQ(row[column("note")], r.value("note", ""));
    EXPECT_TRUE(row[column("tandem_speedup")].empty());
  }
  // The shortest round-trip form: 0.1 + 0.2's neighbourhood keeps its 17 digits, 2.1e-6 stays short.
  EXPECT_EQ(rows[1][column("median_s")], "2.1e-06");
  EXPECT_EQ(rows[1][column("runs")], "7");
  EXPECT_EQ(rows[5][column("median_s")], "0.00030000000000000003");
  EXPECT_EQ(rows[4][column("transfer_s")], "3.187250996015936e-06");
  const auto& peer = rows[22];
  EXPECT_EQ(peer[column("kind")], "peer");
  EXPECT_EQ(peer[column("peer")], "NumPy");
  EXPECT_EQ(peer[column("variant")], "sum (float64)");
  EXPECT_EQ(peer[column("size_unit")], "elements");  // from the case's results: peers carry none
  EXPECT_TRUE(peer[column("backend")].empty());
  EXPECT_EQ(parse_double(peer[column("tandem_speedup")]), doc["peers"][0]["tandem_speedup"].get<double>());
  EXPECT_EQ(rows.back()[column("note")], doc["peers"][5]["detail"]);
}

TEST(ReportCsv, QuotesFieldsWithCommasQuotesAndNewlines) {
  const json doc = fixture();
  const std::string csv = tandem::report_csv(doc);
  const std::string note = doc["results"][13]["note"];
  ASSERT_NE(note.find('\n'), std::string::npos);
  std::string expected = "\"";
  for (char c : note) expected += c == '"' ? std::string("\"\"") : std::string(1, c);
  expected += "\"\r\n";
  EXPECT_NE(csv.find(expected), std::string::npos) << "the note, quoted per RFC 4180, ends its row";
  // A field with nothing to quote is written bare.
  EXPECT_NE(csv.find("\r\ntandem,reduce,sum,10000,elements,seq,,,1,"), std::string::npos);
}

TEST(ReportCsv, EmptyAndSchemaOneDocuments) {
  EXPECT_EQ(parse_csv(tandem::report_csv(json::object())).size(), 1u);
  const json old = {{"schema_version", 1},
                    {"results", {{{"workload", "tasks"}, {"backend", "seq"}, {"workers", 1},
                                  {"time_s", {{"median", 0.5}, {"min", 0.25}, {"max", 1.0}, {"runs", 3}}}}}},
                    {"peers", {{{"workload", "tasks"}, {"peer", "python"}, {"variant", "pool"}, {"time_s", 2.0}}}}};
  const auto rows = parse_csv(tandem::report_csv(old));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][column("size")], "");
  EXPECT_EQ(rows[1][column("median_s")], "0.5");
  EXPECT_EQ(rows[1][column("ci95_lo")], "");
  EXPECT_EQ(rows[2][column("median_s")], "");  // schema 1's bare number is not a timing object
}

TEST(ReportMarkdown, MachineTablesPeersCrossoversAndSkips) {
  const json doc = fixture();
  const std::string md = tandem::report_markdown(doc);
  EXPECT_NE(md.find("| SIMD | AVX-512 |"), std::string::npos);
  EXPECT_NE(md.find("| GPU | none (no CUDA device: CUDA driver version is insufficient) |"), std::string::npos);
  EXPECT_NE(md.find("| Git revision | `3cd254f-dirty` |"), std::string::npos);
  EXPECT_NE(md.find("| MPI | not under mpirun |"), std::string::npos);
  EXPECT_NE(md.find("| FMA, float64 | 104 GFLOP/s (AVX-512, 2 cores) |"), std::string::npos);
  EXPECT_NE(md.find("| Memory read | 31.2 GB/s |"), std::string::npos);
  EXPECT_NE(md.find("## reduce · sum\n"), std::string::npos);
  EXPECT_NE(md.find("## forest\n"), std::string::npos);
  EXPECT_NE(md.find("| Size (elements) | Backend | Workers | Median | Transfer | 95% interval | Throughput | Of ceiling | "
                    "Speedup over seq | Stop |"),
            std::string::npos);
  // The fastest at a size is bold; a GPU row shows its transfer apart.
  EXPECT_NE(md.find("| 1e4 | seq | 1 | **2.10 µs** | - | 2.08 µs – 2.12 µs | 4.76 G elements/s | 97.0% read | 1.00× | stable |"),
            std::string::npos);
  EXPECT_NE(md.find("| 1e8 | gpu | 1 | **5.17 ms** | 31.9 ms (800 MB) | 5.11 ms – 5.22 ms | 19.4 G elements/s |"), std::string::npos);
  EXPECT_NE(md.find("| 1e6 | threads | 2 | **190 ms** | 188 ms – 192 ms | 5.27 M rows/s | - | 1.95× | stable |"), std::string::npos);
  EXPECT_EQ(count(md, "| 1e4 | "), 4u + 1u);     // reduce's four backends and NumPy
  EXPECT_EQ(count(md, "| 1e5 | "), 3u + 1u);     // forest's three and XGBoost
  EXPECT_NE(md.find("| 1e6 | NumPy | sum (float64) | 321 µs | 318 µs – 324 µs | 6.42× | numpy 1.24.2 |"), std::string::npos);
  EXPECT_NE(md.find("- **gpu** over seq: wins from 2e5 elements (between the measured 1e4 and 1e6)"), std::string::npos);
  EXPECT_NE(md.find("- **procs** over seq: never wins up to 1e8 elements"), std::string::npos);
  EXPECT_NE(md.find("- **gpu** at 1000, 1e5, 1e6: no CUDA device: "), std::string::npos);
  EXPECT_NE(md.find("| forest | scikit-learn | python module sklearn not found"), std::string::npos);
  EXPECT_NE(md.find("| `python3-sklearn` |"), std::string::npos);
}

TEST(ReportMarkdown, HostileTextCannotBecomeMarkupOrBreakATable) {
  const std::string md = tandem::report_markdown(fixture());
  EXPECT_EQ(md.find("<script"), std::string::npos);
  EXPECT_EQ(md.find("</script"), std::string::npos);
  EXPECT_EQ(md.find("<!--"), std::string::npos);
  EXPECT_EQ(md.find("\u2028"), std::string::npos);
  EXPECT_NE(md.find("&lt;/script&gt;&lt;script&gt;alert(\"x\")&lt;/script&gt; &lt;!-- &amp;"), std::string::npos);
  // Every table row has as many cells as its header: no '|' or newline leaked from a string.
  std::istringstream lines(md);
  std::size_t cells = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '|') {
      cells = 0;
      continue;
    }
    std::size_t bars = 0;
    for (std::size_t i = 0; i < line.size(); ++i) bars += line[i] == '|' && (i == 0 || line[i - 1] != '\\');
    if (cells == 0) cells = bars;
    EXPECT_EQ(bars, cells) << line;
  }
}

TEST(ReportMarkdown, MissingOptionalParts) {
  const std::string md = tandem::report_markdown(json{{"schema_version", 1},
                                                      {"results", {{{"workload", "tasks"}, {"backend", "seq"},
                                                                    {"time_s", {{"median", 0.5}}}}}}});
  EXPECT_NE(md.find("## tasks\n"), std::string::npos);
  EXPECT_NE(md.find("| - | seq |  | 500 ms | - | - | - | - |  |"), std::string::npos) << md;
  EXPECT_EQ(md.find("Ceilings"), std::string::npos);
  EXPECT_EQ(md.find("Peers"), std::string::npos);
  EXPECT_EQ(md.find("## Machine"), std::string::npos);
}

std::string embedded(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"report\">";
  const auto from = html.find(open);
  EXPECT_NE(from, std::string::npos);
  const auto to = html.find("</script>", from);
  return html.substr(from + open.size(), to - from - open.size());
}

TEST(ReportHtml, SelfContainedWithTheDocumentEmbeddedExactly) {
  const json doc = fixture();
  const std::string html = tandem::report_html(doc);
  for (const char* external : {"http://", "https://", "src=", "href=", "url(", "@import", "<link", "<img", "<iframe"})
    EXPECT_EQ(html.find(external), std::string::npos) << external;
  EXPECT_NE(html.find("Content-Security-Policy\" content=\"default-src 'none'"), std::string::npos);
  EXPECT_EQ(json::parse(embedded(html)), doc);
  EXPECT_NE(html.find("<pre id=\"errors\"></pre>"), std::string::npos);
}

TEST(ReportHtml, NoStringCanBreakOutOfTheEmbeddedDocument) {
  json doc = fixture();
  const std::string hostile = "</script><script>alert(1)</script><!-- <script> \u2028\u2029 --> ]]> \\u003c </SCRIPT >";
  doc["results"][0]["note"] = hostile;
  doc["machine"]["cpu"]["model"] = hostile;
  doc[hostile] = hostile;  // a key, too
  const std::string html = tandem::report_html(doc);
  EXPECT_EQ(count(html, "<script"), 3u);  // the error handler, the document and the page's script
  EXPECT_EQ(count(html, "</script>"), 3u);
  EXPECT_EQ(html.find("<!--"), std::string::npos);
  EXPECT_EQ(html.find("\u2028"), std::string::npos);
  EXPECT_EQ(html.find("\u2029"), std::string::npos);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  const std::string body = embedded(html);
  for (char c : body) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "non-ASCII or control byte in the embedded JSON";
  EXPECT_EQ(json::parse(body), doc);
}

TEST(ReportHtml, InvalidUtf8IsReplacedNotThrown) {
  json doc = fixture();
  doc["results"][0]["note"] = std::string("bad \xff\xfe bytes");
  const std::string body = embedded(tandem::report_html(doc));
  EXPECT_EQ(json::parse(body)["results"][0]["note"], "bad \xef\xbf\xbd\xef\xbf\xbd bytes");
}

}  // namespace
