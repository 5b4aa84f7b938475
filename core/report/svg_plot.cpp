#include "core/report/svg_plot.h"

#include "core/report/plot_canvas.h"
#include "core/report/plot_render.h"
#include "core/report/text_encoding.h"

namespace emoe::report {

namespace {

// Two decimals are far below a pixel and keep the document small.
std::string num(double v) { return format_fixed(v, 2); }

std::string xy(PointXY p) { return num(p.x) + "," + num(p.y); }

class SvgCanvas : public PlotCanvas {
 public:
  explicit SvgCanvas(std::string& out) : out_(out) {}

  void begin_group(std::string_view kind, std::string_view name) override {
    out_ += "<g class=\"" + xml_escape(kind) + "\"";
    if (!name.empty()) out_ += " data-name=\"" + xml_escape(name) + "\"";
    out_ += ">";
    // A tooltip with the full name, since the legend may show it cut.
    if (kind == "series" && !name.empty()) out_ += "<title>" + xml_escape(name) + "</title>";
    out_ += "\n";
  }
  void end_group() override { out_ += "</g>\n"; }

  void line(PointXY a, PointXY b, Rgb color, double width, bool dashed) override {
    out_ += "<line x1=\"" + num(a.x) + "\" y1=\"" + num(a.y) + "\" x2=\"" + num(b.x) + "\" y2=\"" +
            num(b.y) + "\"" + stroke(color, width, dashed) + "/>\n";
  }

  void polyline(const std::vector<PointXY>& points, Rgb color, double width, bool dashed) override {
    out_ += "<polyline class=\"line\" fill=\"none\"" + stroke(color, width, dashed) +
            " stroke-linejoin=\"round\" points=\"";
    for (size_t i = 0; i < points.size(); ++i) {
      if (i > 0) out_ += ' ';
      out_ += xy(points[i]);
    }
    out_ += "\"/>\n";
  }

  void fill_rect(double x, double y, double w, double h, Rgb color) override {
    out_ += "<rect class=\"bar\" x=\"" + num(x) + "\" y=\"" + num(y) + "\" width=\"" + num(w) +
            "\" height=\"" + num(h) + "\" fill=\"" + rgb_hex(color) + "\"/>\n";
  }

  void marker(PointXY p, MarkerShape shape, double size, Rgb color) override {
    if (shape == MarkerShape::Circle) {
      out_ += "<circle class=\"marker\" cx=\"" + num(p.x) + "\" cy=\"" + num(p.y) + "\" r=\"" +
              num(size / 2) + "\" fill=\"" + rgb_hex(color) + "\"/>\n";
      return;
    }
    out_ += "<polygon class=\"marker\" points=\"";
    const std::vector<PointXY> poly = marker_polygon(p, shape, size);
    for (size_t i = 0; i < poly.size(); ++i) {
      if (i > 0) out_ += ' ';
      out_ += xy(poly[i]);
    }
    out_ += "\" fill=\"" + rgb_hex(color) + "\"/>\n";
  }

  void text(PointXY p, std::string_view utf8, const TextStyle& style) override {
    static const char* kAnchor[] = {"start", "middle", "end"};
    out_ += "<text x=\"" + num(p.x) + "\" y=\"" + num(p.y) + "\" font-size=\"" + num(style.size) +
            "\" text-anchor=\"" + kAnchor[static_cast<int>(style.anchor)] + "\"";
    if (style.font == Font::HelveticaBold) out_ += " font-weight=\"bold\"";
    if (style.font == Font::Courier) out_ += " font-family=\"Courier, monospace\"";
    if (!(style.color == Rgb{})) out_ += " fill=\"" + rgb_hex(style.color) + "\"";
    if (style.vertical) out_ += " transform=\"rotate(-90 " + num(p.x) + " " + num(p.y) + ")\"";
    out_ += '>';
    out_ += xml_escape(utf8);
    out_ += "</text>\n";
  }

 private:
  static std::string stroke(Rgb color, double width, bool dashed) {
    std::string s = " stroke=\"" + rgb_hex(color) + "\" stroke-width=\"" + num(width) + "\"";
    if (dashed) s += " stroke-dasharray=\"6 3\"";
    return s;
  }

  std::string& out_;
};

}  // namespace

std::string plot_svg(const Plot& plot, double width, double height) {
  std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\"";
  if (!plot.id.empty()) out += " id=\"plot-" + xml_escape(plot.id) + "\"";
  out += " viewBox=\"0 0 " + num(width) + " " + num(height) + "\" width=\"" + num(width) +
         "\" height=\"" + num(height) + "\" role=\"img\" aria-label=\"" + xml_escape(plot.title) +
         "\" font-family=\"Helvetica, Arial, sans-serif\">\n";
  out += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  SvgCanvas canvas(out);
  draw_plot(plot, width, height, canvas);
  out += "</svg>\n";
  return out;
}

}  // namespace emoe::report
