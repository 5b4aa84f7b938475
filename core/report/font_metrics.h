// Widths of the three standard PDF fonts the report uses, so both renderers can centre and
// right-align text and cut labels to the room they have. SVG text is set in Helvetica/Arial,
// which share these metrics, so one layout serves both.
#pragma once

#include <string>
#include <string_view>

namespace emoe::report {

enum class Font { Helvetica, HelveticaBold, Courier };

// Advance width of utf8 (as its WinAnsi form) at `size` points (or SVG pixels).
double text_width(std::string_view utf8, double size, Font font = Font::Helvetica);

// utf8 itself when it fits max_width, else its longest prefix (whole code points) followed by
// an ellipsis that does; just the ellipsis when nothing else fits.
std::string fit_text(std::string_view utf8, double max_width, double size,
                     Font font = Font::Helvetica);

}  // namespace emoe::report
