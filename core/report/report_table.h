// A table of the report (points, capacity, requests, ...) as data, shown three ways: HTML
// (<table>), CSV (raw data) and PDF pages (pdf_table.h). Each cell keeps the text a reader
// sees (rounded, in the column's display unit) and the raw value for CSV (full precision, base
// units), so the tables and the data files come from one definition.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace emoe::report {

struct TableColumn {
  std::string name;      // header shown in HTML/PDF, with its unit: "Mean E2E (ms)"
  std::string key;       // CSV header: "mean_e2e_ms"
  bool numeric = false;  // right-aligned
};

struct TableCell {
  std::string text;  // shown
  std::string raw;   // CSV
};

struct Table {
  std::string id;     // "points"; HTML anchor
  std::string title;  // "Points"
  std::vector<TableColumn> columns;
  std::vector<std::vector<TableCell>> rows;  // each as long as columns
};

TableCell text_cell(std::string s);
// Shown with `decimals`; raw in full precision. Non-finite: shown "-", raw empty.
TableCell number_cell(double v, int decimals);
TableCell int_cell(int64_t v);
TableCell uint_cell(uint64_t v);
TableCell bool_cell(bool v);  // "yes"/"no", raw "1"/"0"
// A fraction shown as a percentage (decimals after the point); raw stays the fraction.
TableCell percent_cell(double fraction, int decimals = 1);
// Bytes shown in MB (10^6, two decimals); raw in bytes.
TableCell megabytes_cell(uint64_t bytes);

// RFC 4180: one header line of keys, then one line per row of raw values; fields with a comma,
// quote or line break are quoted, quotes doubled. Lines end with "\n".
std::string table_csv(const Table& table);
// <table> with a <caption>, escaped; numeric columns get class "num".
std::string table_html(const Table& table);

}  // namespace emoe::report
