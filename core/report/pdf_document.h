// A minimal PDF 1.4 writer: pages of vector graphics and text in the standard Type1 fonts
// (Helvetica, Helvetica-Bold, Courier; WinAnsiEncoding, so no font is embedded), with content
// streams left uncompressed so users and tests can grep what a page shows. Coordinates are PDF
// points with the origin at the bottom-left of the page.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/report/font_metrics.h"
#include "core/report/plot_layout.h"

namespace emoe::report {

inline constexpr double kA4Width = 595.28;   // points
inline constexpr double kA4Height = 841.89;  // points

// One page's content stream, built operator by operator.
class PdfContent {
 public:
  void save() { out_ += "q\n"; }
  void restore() { out_ += "Q\n"; }
  void set_stroke(Rgb c);
  void set_fill(Rgb c);
  void set_line_width(double w);
  void set_dash(bool dashed);  // 6 on, 3 off, or solid
  void move_to(double x, double y);
  void line_to(double x, double y);
  void curve_to(double x1, double y1, double x2, double y2, double x3, double y3);
  void close_path() { out_ += "h\n"; }
  void stroke() { out_ += "S\n"; }
  void fill() { out_ += "f\n"; }
  void rect(double x, double y, double w, double h);  // adds a rectangle path
  void circle(double cx, double cy, double r);        // adds a closed circle path (4 Beziers)
  // utf8 converted to WinAnsi (unmappable characters as '?'); (x, y) is the start of the
  // baseline. angle_deg rotates counter-clockwise about that point (0 or 90 in practice).
  void text(double x, double y, std::string_view utf8, Font font, double size, Rgb color = {},
            double angle_deg = 0.0);

  const std::string& str() const { return out_; }

 private:
  std::string out_;
};

class PdfDocument {
 public:
  PdfDocument(double page_width, double page_height) : width_(page_width), height_(page_height) {}

  double page_width() const { return width_; }
  double page_height() const { return height_; }

  // Document information (shown by readers as the title, creator, date).
  void set_title(std::string utf8) { title_ = std::move(utf8); }
  void set_creator(std::string utf8) { creator_ = std::move(utf8); }
  // Unix epoch seconds; 0 leaves the date out.
  void set_creation_time(int64_t unix_seconds) { created_ = unix_seconds; }

  void add_page(std::string content_stream) { pages_.push_back(std::move(content_stream)); }
  size_t page_count() const { return pages_.size(); }

  // The file: header, catalog, page tree, fonts, pages, info, a cross-reference table whose
  // offsets are the objects' byte positions, trailer and startxref. A document needs at least
  // one page, so an empty one gets a blank page.
  std::string finish() const;

 private:
  double width_, height_;
  std::string title_, creator_;
  int64_t created_ = 0;
  std::vector<std::string> pages_;
};

// Number formatting for content streams: at most two decimals, never an exponent (which PDF
// syntax does not have) and finite (non-finite values become 0).
std::string pdf_number(double v);

}  // namespace emoe::report
