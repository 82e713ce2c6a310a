// The report's other formats, rendered from the report document alone (schema_version 2,
// docs/report.schema.json), so any document renders: one written by `tandem bench --json`, an old
// one given to --compare, one from `tandem <workload> --json`. Optional fields may be missing
// (no ceilings, no peers, sizes null or absent as in schema 1). docs/report-formats.md describes
// what each holds.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace tandem {

// RFC 4180 (CRLF rows, fields quoted when they hold a comma, quote, CR or LF): a header, then one
// row per result (kind "tandem") and per peer (kind "peer"). Numbers in their shortest round-trip
// form; a missing value is an empty field.
std::string report_csv(const nlohmann::json& doc);

// GitHub-flavoured Markdown for people (docs/BENCHMARKS.md): the machine, the settings and
// ceilings, then per workload and case a table over sizes and backends, the peers, crossovers and
// what was skipped.
std::string report_markdown(const nlohmann::json& doc);

// One self-contained HTML page (inline CSS and JavaScript, nothing fetched): the document embedded
// as JSON, drawn as SVG charts and tables by the page's script.
std::string report_html(const nlohmann::json& doc);

}  // namespace tandem
