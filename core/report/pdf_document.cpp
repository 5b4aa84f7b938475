#include "core/report/pdf_document.h"

#include <cmath>
#include <cstdio>
#include <ctime>

#include "core/report/text_encoding.h"

namespace emoe::report {

namespace {

std::string color_operands(Rgb c) {
  return pdf_number(c.r / 255.0) + " " + pdf_number(c.g / 255.0) + " " + pdf_number(c.b / 255.0);
}

const char* font_resource(Font font) {
  switch (font) {
    case Font::Helvetica:
      return "/F1";
    case Font::HelveticaBold:
      return "/F2";
    case Font::Courier:
      return "/F3";
  }
  return "/F1";
}

std::string pdf_date(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "D:%Y%m%d%H%M%SZ", &tm);
  return std::string("(") + buf + ")";
}

}  // namespace

std::string pdf_number(double v) {
  if (!std::isfinite(v)) v = 0.0;
  std::string s = format_fixed(v, 2);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

void PdfContent::set_stroke(Rgb c) { out_ += color_operands(c) + " RG\n"; }
void PdfContent::set_fill(Rgb c) { out_ += color_operands(c) + " rg\n"; }
void PdfContent::set_line_width(double w) { out_ += pdf_number(w) + " w\n"; }
void PdfContent::set_dash(bool dashed) { out_ += dashed ? "[6 3] 0 d\n" : "[] 0 d\n"; }

void PdfContent::move_to(double x, double y) {
  out_ += pdf_number(x) + " " + pdf_number(y) + " m\n";
}

void PdfContent::line_to(double x, double y) {
  out_ += pdf_number(x) + " " + pdf_number(y) + " l\n";
}

void PdfContent::curve_to(double x1, double y1, double x2, double y2, double x3, double y3) {
  out_ += pdf_number(x1) + " " + pdf_number(y1) + " " + pdf_number(x2) + " " + pdf_number(y2) +
          " " + pdf_number(x3) + " " + pdf_number(y3) + " c\n";
}

void PdfContent::rect(double x, double y, double w, double h) {
  out_ += pdf_number(x) + " " + pdf_number(y) + " " + pdf_number(w) + " " + pdf_number(h) + " re\n";
}

void PdfContent::circle(double cx, double cy, double r) {
  // The usual cubic approximation of a quarter circle.
  const double k = 0.5523 * r;
  move_to(cx + r, cy);
  curve_to(cx + r, cy + k, cx + k, cy + r, cx, cy + r);
  curve_to(cx - k, cy + r, cx - r, cy + k, cx - r, cy);
  curve_to(cx - r, cy - k, cx - k, cy - r, cx, cy - r);
  curve_to(cx + k, cy - r, cx + r, cy - k, cx + r, cy);
  close_path();
}

void PdfContent::text(double x, double y, std::string_view utf8, Font font, double size, Rgb color,
                      double angle_deg) {
  out_ += "BT\n" + color_operands(color) + " rg\n" + font_resource(font) + " " + pdf_number(size) +
          " Tf\n";
  if (angle_deg == 0.0) {
    out_ += pdf_number(x) + " " + pdf_number(y) + " Td\n";
  } else {
    const double a = angle_deg * M_PI / 180.0;
    const double c = std::cos(a), s = std::sin(a);
    out_ += pdf_number(c) + " " + pdf_number(s) + " " + pdf_number(-s) + " " + pdf_number(c) + " " +
            pdf_number(x) + " " + pdf_number(y) + " Tm\n";
  }
  out_ += pdf_literal(utf8_to_winansi(utf8)) + " Tj\nET\n";
}

std::string PdfDocument::finish() const {
  std::vector<std::string> pages = pages_;
  if (pages.empty()) pages.emplace_back();
  // Objects: 1 catalog, 2 page tree, 3-5 fonts, 6 info, then a page and its content per page.
  constexpr int kFirstPage = 7;
  const int n_objects = kFirstPage - 1 + 2 * static_cast<int>(pages.size());
  std::vector<size_t> offsets(static_cast<size_t>(n_objects) + 1, 0);

  // The comment's high bytes tell transfer tools the file is binary (PDF 1.4, 7.5.2).
  std::string out = "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n";
  const auto begin_object = [&](int n) {
    offsets[static_cast<size_t>(n)] = out.size();
    out += std::to_string(n) + " 0 obj\n";
  };
  const auto end_object = [&] { out += "endobj\n"; };

  begin_object(1);
  out += "<< /Type /Catalog /Pages 2 0 R >>\n";
  end_object();

  begin_object(2);
  out += "<< /Type /Pages /Kids [";
  for (size_t i = 0; i < pages.size(); ++i) {
    if (i > 0) out += ' ';
    out += std::to_string(kFirstPage + 2 * static_cast<int>(i)) + " 0 R";
  }
  out += "] /Count " + std::to_string(pages.size()) + " >>\n";
  end_object();

  const char* kFonts[] = {"Helvetica", "Helvetica-Bold", "Courier"};
  for (int i = 0; i < 3; ++i) {
    begin_object(3 + i);
    out += std::string("<< /Type /Font /Subtype /Type1 /BaseFont /") + kFonts[i] +
           " /Encoding /WinAnsiEncoding >>\n";
    end_object();
  }

  begin_object(6);
  out += "<< /Producer (eMoE Studio)";
  if (!title_.empty()) out += " /Title " + pdf_text_string(title_);
  if (!creator_.empty()) out += " /Creator " + pdf_text_string(creator_);
  if (created_ > 0) out += " /CreationDate " + pdf_date(created_);
  out += " >>\n";
  end_object();

  for (size_t i = 0; i < pages.size(); ++i) {
    const int page = kFirstPage + 2 * static_cast<int>(i);
    begin_object(page);
    out += "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 " + pdf_number(width_) + " " +
           pdf_number(height_) + "] /Resources << /Font << /F1 3 0 R /F2 4 0 R /F3 5 0 R >> >> " +
           "/Contents " + std::to_string(page + 1) + " 0 R >>\n";
    end_object();
    begin_object(page + 1);
    out += "<< /Length " + std::to_string(pages[i].size()) + " >>\nstream\n";
    out += pages[i];
    out += "\nendstream\n";
    end_object();
  }

  const size_t xref = out.size();
  out += "xref\n0 " + std::to_string(n_objects + 1) + "\n0000000000 65535 f \n";
  for (int n = 1; n <= n_objects; ++n) {
    char entry[32];
    std::snprintf(entry, sizeof entry, "%010zu 00000 n \n", offsets[static_cast<size_t>(n)]);
    out += entry;
  }
  out += "trailer\n<< /Size " + std::to_string(n_objects + 1) + " /Root 1 0 R /Info 6 0 R >>\n";
  out += "startxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return out;
}

}  // namespace emoe::report
