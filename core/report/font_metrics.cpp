#include "core/report/font_metrics.h"

#include <vector>

#include "core/common/utf8.h"
#include "core/report/text_encoding.h"

namespace emoe::report {

namespace {

// Adobe's AFM advance widths (1/1000 em) for 0x20-0x7E.
constexpr short kHelvetica[95] = {
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333,  278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667,  611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278,  556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500,  500, 334, 260, 334, 584};
constexpr short kHelveticaBold[95] = {
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667,
    611, 778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556,
    278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584};

int glyph_width(unsigned char c, Font font) {
  if (font == Font::Courier) return 600;
  const short* table = font == Font::HelveticaBold ? kHelveticaBold : kHelvetica;
  if (c >= 0x20 && c <= 0x7E) return table[c - 0x20];
  switch (c) {
    case 0x85:  // ellipsis
    case 0x97:  // em dash
    case 0x89:  // per mille
      return 1000;
    case 0x95:  // bullet
      return 350;
    default:
      // Latin-1 letters take their base letter's width; 556 is the common one.
      return 556;
  }
}

}  // namespace

double text_width(std::string_view utf8, double size, Font font) {
  int units = 0;
  for (char ch : utf8_to_winansi(utf8)) units += glyph_width(static_cast<unsigned char>(ch), font);
  return units * size / 1000.0;
}

std::string fit_text(std::string_view utf8, double max_width, double size, Font font) {
  // The tolerance absorbs rounding when max_width was itself computed from this text's width.
  constexpr double kSlack = 1e-6;
  if (text_width(utf8, size, font) <= max_width + kSlack) return std::string(utf8);
  const std::vector<uint32_t> cps = utf8_code_points(utf8);
  const double ellipsis = glyph_width(0x85, font) * size / 1000.0;
  std::string out;
  double width = 0.0;
  for (uint32_t cp : cps) {
    std::string one;
    append_utf8(cp, one);
    const double w = text_width(one, size, font);
    if (width + w + ellipsis > max_width + kSlack) break;
    out += one;
    width += w;
  }
  append_utf8(0x2026, out);
  return out;
}

}  // namespace emoe::report
