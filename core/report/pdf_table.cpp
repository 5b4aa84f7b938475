#include "core/report/pdf_table.h"

#include <algorithm>
#include <cmath>

#include "core/report/font_metrics.h"
#include "core/report/pdf_document.h"

namespace emoe::report {

namespace {

constexpr double kPad = 3.0;
constexpr double kMaxCellWidth = 320.0;
constexpr double kMinShrink = 0.8;  // of the font size
constexpr double kHeadingSize = 12.0;
constexpr Rgb kStripe{0xF0, 0xF0, 0xF0};
constexpr Rgb kRule{0x88, 0x88, 0x88};

// The header in one line when it is no wider than the column's cells (or short anyway), else
// split at the space that makes the wider line narrowest, so long names do not force wide
// columns of short numbers.
std::vector<std::string> header_lines(const std::string& name, double size, double cells_width) {
  std::vector<std::string> best = {name};
  double best_width = text_width(name, size, Font::HelveticaBold);
  if (best_width <= std::max(cells_width, 8.0 * size)) return best;
  for (size_t i = name.find(' '); i != std::string::npos; i = name.find(' ', i + 1)) {
    const std::string a = name.substr(0, i), b = name.substr(i + 1);
    const double w = std::max(text_width(a, size, Font::HelveticaBold),
                              text_width(b, size, Font::HelveticaBold));
    if (w < best_width) {
      best_width = w;
      best = {a, b};
    }
  }
  return best;
}

struct Band {
  std::vector<size_t> columns;
};

// Column widths (cells and headers plus padding) and header lines at one font size.
void measure(const Table& table, double size, std::vector<std::vector<std::string>>& headers,
             std::vector<double>& widths) {
  const size_t n_cols = table.columns.size();
  headers.assign(n_cols, {});
  widths.assign(n_cols, 0.0);
  for (size_t c = 0; c < n_cols; ++c) {
    double w = 0.0;
    for (const auto& row : table.rows) {
      if (c < row.size()) w = std::max(w, text_width(row[c].text, size));
    }
    headers[c] = header_lines(table.columns[c].name, size, w);
    for (const std::string& h : headers[c]) {
      w = std::max(w, text_width(h, size, Font::HelveticaBold));
    }
    widths[c] = std::min(w, kMaxCellWidth) + 2 * kPad;
  }
}

}  // namespace

std::vector<std::string> pdf_table_pages(const Table& table, const PdfTableLayout& layout) {
  const double usable = layout.page_width - 2 * layout.margin;
  const size_t n_cols = table.columns.size();
  const size_t keys = std::min(layout.key_columns, n_cols);

  double size = layout.font_size;
  std::vector<std::vector<std::string>> headers;
  std::vector<double> widths;
  measure(table, size, headers, widths);
  // A table slightly too wide for one band reads better a little smaller than split in two.
  const auto total = [&] {
    double t = 0.0;
    for (double w : widths) t += w;
    return t;
  };
  const double full = total();
  while (full * kMinShrink <= usable && total() > usable && size > layout.font_size * kMinShrink) {
    size -= 0.25;
    measure(table, size, headers, widths);
  }
  if (total() > usable) {
    size = layout.font_size;
    measure(table, size, headers, widths);
  }
  const double pitch = size * 1.45;
  double key_width = 0.0;
  for (size_t c = 0; c < keys; ++c) key_width += widths[c];
  // A column wider than what the key columns leave is cut to fit (its cells get ellipses).
  for (size_t c = keys; c < n_cols; ++c) widths[c] = std::min(widths[c], usable - key_width);

  std::vector<Band> bands;
  for (size_t c = keys; c < n_cols;) {
    Band band;
    for (size_t k = 0; k < keys; ++k) band.columns.push_back(k);
    double used = key_width;
    while (c < n_cols && (band.columns.size() == keys || used + widths[c] <= usable)) {
      used += widths[c];
      band.columns.push_back(c++);
    }
    bands.push_back(std::move(band));
  }
  if (bands.empty()) {
    Band band;
    for (size_t k = 0; k < keys; ++k) band.columns.push_back(k);
    bands.push_back(std::move(band));
  }

  const double top = layout.page_height - layout.margin;
  const double header_top = top - kHeadingSize - 10;
  const double rows_top = header_top - 2 * pitch - 4;
  const double bottom = layout.margin + layout.bottom_reserve;
  const auto rows_per_page =
      static_cast<size_t>(std::max(1.0, std::floor((rows_top - bottom) / pitch)));

  std::vector<std::string> pages;
  for (size_t b = 0; b < bands.size(); ++b) {
    const Band& band = bands[b];
    for (size_t first = 0; first == 0 || first < table.rows.size(); first += rows_per_page) {
      PdfContent page;
      std::string heading = table.title;
      if (!pages.empty()) heading += " (continued)";
      if (bands.size() > 1) {
        heading +=
            ", columns part " + std::to_string(b + 1) + " of " + std::to_string(bands.size());
      }
      page.text(layout.margin, top - kHeadingSize, heading, Font::HelveticaBold, kHeadingSize);

      double width = 0.0;
      for (size_t c : band.columns) width += widths[c];
      double x = layout.margin;
      for (size_t c : band.columns) {
        const std::vector<std::string>& lines = headers[c];
        for (size_t l = 0; l < lines.size(); ++l) {
          const std::string shown =
              fit_text(lines[l], widths[c] - 2 * kPad, size, Font::HelveticaBold);
          const double tw = text_width(shown, size, Font::HelveticaBold);
          const double tx = table.columns[c].numeric ? x + widths[c] - kPad - tw : x + kPad;
          page.text(tx, header_top - pitch * static_cast<double>(l + 2 - lines.size()) - size,
                    shown, Font::HelveticaBold, size);
        }
        x += widths[c];
      }
      page.set_stroke(kRule);
      page.set_line_width(0.6);
      page.move_to(layout.margin, rows_top + 2);
      page.line_to(layout.margin + width, rows_top + 2);
      page.stroke();

      const size_t last = std::min(table.rows.size(), first + rows_per_page);
      if (table.rows.empty()) {
        page.text(layout.margin + kPad, rows_top - pitch + 2, "(no rows)", Font::Helvetica, size);
      }
      for (size_t r = first; r < last; ++r) {
        const double y = rows_top - pitch * static_cast<double>(r - first + 1);
        if ((r - first) % 2 == 1) {
          page.set_fill(kStripe);
          page.rect(layout.margin, y - 0.3 * size, width, pitch);
          page.fill();
        }
        x = layout.margin;
        for (size_t c : band.columns) {
          const std::string& text =
              c < table.rows[r].size() ? table.rows[r][c].text : std::string();
          const std::string shown = fit_text(text, widths[c] - 2 * kPad, size);
          const double tw = text_width(shown, size);
          const double tx = table.columns[c].numeric ? x + widths[c] - kPad - tw : x + kPad;
          page.text(tx, y + 0.15 * size, shown, Font::Helvetica, size);
          x += widths[c];
        }
      }
      pages.push_back(page.str());
      if (table.rows.empty()) break;
    }
  }
  return pages;
}

}  // namespace emoe::report
