#include "core/report/report_table.h"

#include "core/common/csv.h"
#include "core/report/plot_layout.h"
#include "core/report/text_encoding.h"

namespace emoe::report {

TableCell text_cell(std::string s) { return {s, s}; }

TableCell number_cell(double v, int decimals) {
  return {format_fixed(v, decimals), format_shortest(v)};
}

TableCell int_cell(int64_t v) { return {std::to_string(v), std::to_string(v)}; }
TableCell uint_cell(uint64_t v) { return {std::to_string(v), std::to_string(v)}; }
TableCell bool_cell(bool v) { return {v ? "yes" : "no", v ? "1" : "0"}; }

TableCell percent_cell(double fraction, int decimals) {
  return {format_fixed(fraction * 100.0, decimals), format_shortest(fraction)};
}

TableCell megabytes_cell(uint64_t bytes) {
  return {format_fixed(static_cast<double>(bytes) / 1e6, 2), std::to_string(bytes)};
}

std::string table_csv(const Table& table) {
  std::string out;
  for (size_t c = 0; c < table.columns.size(); ++c) {
    if (c > 0) out += ',';
    out += csv_field(table.columns[c].key);
  }
  out += '\n';
  for (const auto& row : table.rows) {
    for (size_t c = 0; c < table.columns.size(); ++c) {
      if (c > 0) out += ',';
      if (c < row.size()) out += csv_field(row[c].raw);
    }
    out += '\n';
  }
  return out;
}

std::string table_html(const Table& table) {
  std::string out = "<div class=\"table-wrap\"><table id=\"table-" + xml_escape(table.id) + "\">\n";
  if (!table.title.empty()) out += "<caption>" + xml_escape(table.title) + "</caption>\n";
  out += "<thead><tr>";
  for (const TableColumn& col : table.columns) {
    out += col.numeric ? "<th class=\"num\">" : "<th>";
    out += xml_escape(col.name) + "</th>";
  }
  out += "</tr></thead>\n<tbody>\n";
  for (const auto& row : table.rows) {
    out += "<tr>";
    for (size_t c = 0; c < table.columns.size(); ++c) {
      out += table.columns[c].numeric ? "<td class=\"num\">" : "<td>";
      if (c < row.size()) out += xml_escape(row[c].text);
      out += "</td>";
    }
    out += "</tr>\n";
  }
  out += "</tbody>\n</table></div>\n";
  return out;
}

}  // namespace emoe::report
