// What a plot is drawn onto: the few primitives draw_plot needs, in a top-left origin with y
// growing downwards (units: SVG pixels or PDF points). SvgCanvas and PdfCanvas implement it,
// so both formats share one layout and cannot drift apart.
#pragma once

#include <string_view>
#include <vector>

#include "core/report/font_metrics.h"
#include "core/report/plot_layout.h"

namespace emoe::report {

struct PointXY {
  double x = 0.0, y = 0.0;
};

enum class TextAnchor { Start, Middle, End };

struct TextStyle {
  double size = 10.0;
  Font font = Font::Helvetica;
  TextAnchor anchor = TextAnchor::Start;
  Rgb color;
  bool vertical = false;  // rotated 90 degrees counter-clockwise (reads bottom to top)
};

class PlotCanvas {
 public:
  virtual ~PlotCanvas() = default;
  // Logical groups ("series", "legend", "axes"), so SVG readers can find one series' marks.
  virtual void begin_group(std::string_view kind, std::string_view name) = 0;
  virtual void end_group() = 0;
  virtual void line(PointXY a, PointXY b, Rgb color, double width, bool dashed) = 0;
  // A connected line through points (at least two).
  virtual void polyline(const std::vector<PointXY>& points, Rgb color, double width,
                        bool dashed) = 0;
  virtual void fill_rect(double x, double y, double w, double h, Rgb color) = 0;
  // A filled marker centred on p; size is its width.
  virtual void marker(PointXY p, MarkerShape shape, double size, Rgb color) = 0;
  // Baseline at y; x is the start, centre or end per style.anchor (along the text direction).
  virtual void text(PointXY p, std::string_view utf8, const TextStyle& style) = 0;
};

// The polygon of a marker shape (square, triangles, diamond) around p; empty for Circle.
std::vector<PointXY> marker_polygon(PointXY p, MarkerShape shape, double size);

}  // namespace emoe::report
