#include "core/report/pdf_plot.h"

#include "core/report/plot_canvas.h"
#include "core/report/plot_render.h"

namespace emoe::report {

namespace {

// Maps the canvas's top-down box coordinates onto the page's bottom-up ones.
class PdfCanvas : public PlotCanvas {
 public:
  PdfCanvas(PdfContent& out, double left, double top) : out_(out), left_(left), top_(top) {}

  void begin_group(std::string_view, std::string_view) override { out_.save(); }
  void end_group() override { out_.restore(); }

  void line(PointXY a, PointXY b, Rgb color, double width, bool dashed) override {
    stroke_style(color, width, dashed);
    out_.move_to(px(a.x), py(a.y));
    out_.line_to(px(b.x), py(b.y));
    out_.stroke();
  }

  void polyline(const std::vector<PointXY>& points, Rgb color, double width, bool dashed) override {
    if (points.size() < 2) return;
    stroke_style(color, width, dashed);
    out_.move_to(px(points[0].x), py(points[0].y));
    for (size_t i = 1; i < points.size(); ++i) out_.line_to(px(points[i].x), py(points[i].y));
    out_.stroke();
  }

  void fill_rect(double x, double y, double w, double h, Rgb color) override {
    out_.set_fill(color);
    out_.rect(px(x), py(y + h), w, h);
    out_.fill();
  }

  void marker(PointXY p, MarkerShape shape, double size, Rgb color) override {
    out_.set_fill(color);
    if (shape == MarkerShape::Circle) {
      out_.circle(px(p.x), py(p.y), size / 2);
    } else {
      const std::vector<PointXY> poly = marker_polygon(p, shape, size);
      out_.move_to(px(poly[0].x), py(poly[0].y));
      for (size_t i = 1; i < poly.size(); ++i) out_.line_to(px(poly[i].x), py(poly[i].y));
      out_.close_path();
    }
    out_.fill();
  }

  void text(PointXY p, std::string_view utf8, const TextStyle& style) override {
    const double w = text_width(utf8, style.size, style.font);
    const double shift = style.anchor == TextAnchor::Start    ? 0.0
                         : style.anchor == TextAnchor::Middle ? w / 2
                                                              : w;
    // Vertical text runs up the page, so anchoring moves the start down instead of left.
    if (style.vertical) {
      out_.text(px(p.x), py(p.y) - shift, utf8, style.font, style.size, style.color, 90.0);
    } else {
      out_.text(px(p.x) - shift, py(p.y), utf8, style.font, style.size, style.color);
    }
  }

 private:
  double px(double x) const { return left_ + x; }
  double py(double y) const { return top_ - y; }
  void stroke_style(Rgb color, double width, bool dashed) {
    out_.set_stroke(color);
    out_.set_line_width(width);
    out_.set_dash(dashed);
  }

  PdfContent& out_;
  double left_, top_;
};

}  // namespace

void draw_plot_pdf(const Plot& plot, PdfContent& content, double left, double top, double width,
                   double height) {
  PdfCanvas canvas(content, left, top);
  content.save();
  draw_plot(plot, width, height, canvas);
  content.restore();
}

}  // namespace emoe::report
