// A Table laid out on PDF pages: columns that do not fit the page width go to further bands of
// pages (the first key columns repeated in every band, so each row stays identifiable), rows
// that do not fit the height go to further pages. Each page starts with the table's title
// ("(continued)" after the first, the band when there are several) and the column headers.
#pragma once

#include <string>
#include <vector>

#include "core/report/report_table.h"

namespace emoe::report {

struct PdfTableLayout {
  double page_width = 0.0, page_height = 0.0;
  double margin = 36.0;          // all four sides
  double bottom_reserve = 18.0;  // above the bottom margin, for the page footer
  double font_size = 7.0;
  size_t key_columns = 1;  // repeated at the left of every band
};

// The content streams of the pages, in order.
std::vector<std::string> pdf_table_pages(const Table& table, const PdfTableLayout& layout);

}  // namespace emoe::report
