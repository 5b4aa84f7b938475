#include "core/report/plot_render.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace emoe::report {

namespace {

constexpr double kTitleSize = 14.0;
constexpr double kLabelSize = 11.0;
constexpr double kTickSize = 9.5;
constexpr double kLegendSize = 10.0;
constexpr double kLegendPitch = 16.0;
constexpr double kMinLegendPitch = 11.0;
constexpr double kMarkerSize = 7.0;
constexpr double kLineWidth = 1.8;
constexpr Rgb kBlack{0, 0, 0};
constexpr Rgb kGrid{0xDD, 0xDD, 0xDD};
constexpr Rgb kGray{0x66, 0x66, 0x66};

struct Frame {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // plot area; y0 top
  Axis ax, ay;
  double sx(double x) const { return x0 + (x - ax.min) / (ax.max - ax.min) * (x1 - x0); }
  double sy(double y) const { return y1 - (y - ay.min) / (ay.max - ay.min) * (y1 - y0); }
};

// The finite (x, y) pairs of a line series, in the series' order.
std::vector<PointXY> finite_points(const Series& s) {
  std::vector<PointXY> out;
  const size_t n = std::min(s.x.size(), s.y.size());
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) out.push_back({s.x[i], s.y[i]});
  }
  return out;
}

bool has_data(const Plot& plot) {
  for (const Series& s : plot.series) {
    if (plot.bars()) {
      const size_t n = std::min(s.y.size(), plot.categories.size());
      for (size_t i = 0; i < n; ++i) {
        if (std::isfinite(s.y[i])) return true;
      }
    } else if (!finite_points(s).empty()) {
      return true;
    }
  }
  return false;
}

TextStyle style(double size, TextAnchor anchor, Font font = Font::Helvetica, Rgb color = kBlack) {
  TextStyle t;
  t.size = size;
  t.anchor = anchor;
  t.font = font;
  t.color = color;
  return t;
}

void draw_legend_sample(PlotCanvas& canvas, const Plot& plot, size_t index, double x, double y) {
  const SeriesStyle st = series_style(index);
  if (plot.bars()) {
    canvas.fill_rect(x + 6, y - 5, 10, 10, st.color);
    return;
  }
  if (plot.series[index].lines) canvas.line({x, y}, {x + 22, y}, st.color, kLineWidth, st.dashed);
  canvas.marker({x + 11, y}, st.marker, kMarkerSize, st.color);
}

void draw_legend(PlotCanvas& canvas, const Plot& plot, double x, double top, double bottom,
                 double name_width) {
  canvas.begin_group("legend", "");
  const size_t n = plot.series.size();
  const double room = std::max(0.0, bottom - top);
  double pitch = kLegendPitch;
  size_t shown = n;
  if (n * pitch > room) {
    pitch = std::max(kMinLegendPitch, room / static_cast<double>(n));
    // What does not fit is counted, not silently dropped.
    if (n * pitch > room) {
      const auto fits = static_cast<size_t>(room / pitch);
      shown = fits > 0 ? fits - 1 : 0;
    }
  }
  for (size_t i = 0; i < shown; ++i) {
    const double y = top + pitch * (i + 0.5);
    canvas.begin_group("legend-entry", plot.series[i].name);
    draw_legend_sample(canvas, plot, i, x, y);
    canvas.text({x + 28, y + kLegendSize * 0.35},
                fit_text(plot.series[i].name, name_width, kLegendSize),
                style(kLegendSize, TextAnchor::Start));
    canvas.end_group();
  }
  if (shown < n) {
    std::string more = "+";
    more.append(std::to_string(n - shown)).append(" more");
    canvas.text({x, top + pitch * (shown + 0.5) + kLegendSize * 0.35}, more,
                style(kLegendSize, TextAnchor::Start, Font::Helvetica, kGray));
  }
  canvas.end_group();
}

void draw_axes(PlotCanvas& canvas, const Plot& plot, const Frame& f) {
  canvas.begin_group("axes", "");
  for (double t : f.ay.ticks) {
    const double y = f.sy(t);
    if (t != f.ay.min) canvas.line({f.x0, y}, {f.x1, y}, kGrid, 0.6, false);
    canvas.line({f.x0 - 4, y}, {f.x0, y}, kBlack, 0.8, false);
    canvas.text({f.x0 - 6, y + kTickSize * 0.35}, tick_label(t, f.ay),
                style(kTickSize, TextAnchor::End));
  }
  const double label_y = f.y1 + 6 + kTickSize;
  if (plot.bars()) {
    const double slot = (f.x1 - f.x0) / static_cast<double>(plot.categories.size());
    for (size_t i = 0; i < plot.categories.size(); ++i) {
      const double cx = f.x0 + slot * (i + 0.5);
      canvas.text({cx, label_y}, fit_text(plot.categories[i], slot - 4, kTickSize),
                  style(kTickSize, TextAnchor::Middle));
    }
  } else {
    for (double t : f.ax.ticks) {
      const double x = f.sx(t);
      if (t != f.ax.min) canvas.line({x, f.y0}, {x, f.y1}, kGrid, 0.6, false);
      canvas.line({x, f.y1}, {x, f.y1 + 4}, kBlack, 0.8, false);
      canvas.text({x, label_y}, tick_label(t, f.ax), style(kTickSize, TextAnchor::Middle));
    }
  }
  canvas.line({f.x0, f.y0}, {f.x0, f.y1}, kBlack, 1.0, false);
  canvas.line({f.x0, f.y1}, {f.x1, f.y1}, kBlack, 1.0, false);
  if (!plot.x_label.empty()) {
    canvas.text({(f.x0 + f.x1) / 2, label_y + 8 + kLabelSize},
                fit_text(plot.x_label, f.x1 - f.x0, kLabelSize),
                style(kLabelSize, TextAnchor::Middle));
  }
  canvas.end_group();
}

void draw_y_label(PlotCanvas& canvas, const Plot& plot, const Frame& f) {
  if (plot.y_label.empty()) return;
  TextStyle t = style(kLabelSize, TextAnchor::Middle);
  t.vertical = true;
  canvas.text({10 + kLabelSize * 0.8, (f.y0 + f.y1) / 2},
              fit_text(plot.y_label, f.y1 - f.y0, kLabelSize), t);
}

void draw_lines(PlotCanvas& canvas, const Plot& plot, const Frame& f) {
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const Series& s = plot.series[i];
    const SeriesStyle st = series_style(i);
    std::vector<PointXY> pts = finite_points(s);
    for (PointXY& p : pts) p = {f.sx(p.x), f.sy(p.y)};
    canvas.begin_group("series", s.name);
    if (s.lines && pts.size() >= 2) canvas.polyline(pts, st.color, kLineWidth, st.dashed);
    if (pts.size() <= kMaxMarkedPoints || !s.lines) {
      for (const PointXY& p : pts) canvas.marker(p, st.marker, kMarkerSize, st.color);
    }
    canvas.end_group();
  }
}

void draw_bars(PlotCanvas& canvas, const Plot& plot, const Frame& f) {
  const size_t nc = plot.categories.size();
  const size_t ns = std::max<size_t>(1, plot.series.size());
  const double slot = (f.x1 - f.x0) / static_cast<double>(nc);
  const double bar = slot * 0.8 / static_cast<double>(ns);
  const double base = f.sy(std::clamp(0.0, f.ay.min, f.ay.max));
  for (size_t s = 0; s < plot.series.size(); ++s) {
    const Series& series = plot.series[s];
    const SeriesStyle st = series_style(s);
    canvas.begin_group("series", series.name);
    for (size_t c = 0; c < std::min(nc, series.y.size()); ++c) {
      const double v = series.y[c];
      if (!std::isfinite(v)) continue;
      const double x = f.x0 + slot * (c + 0.1) + bar * s;
      const double top = std::min(base, f.sy(v));
      const double h = std::abs(f.sy(v) - base);
      canvas.fill_rect(x, top, bar, h, st.color);
      // The exact value above the bar, when it fits: capacity numbers are read, not estimated.
      std::string label = tick_label(v, f.ay);
      if (std::abs(v - std::round(v)) < 1e-9 && std::abs(v) < 1e15) {
        label = format_fixed(v, 0);
      }
      if (text_width(label, 8.0) <= bar + 6) {
        canvas.text({x + bar / 2, top - 3}, label, style(8.0, TextAnchor::Middle));
      }
    }
    canvas.end_group();
  }
}

// Ends the axis just above `limit` when every value is at most limit and the nice range went
// past it (a percentage axis should not show 120 %).
void cap_axis(Axis& axis, const std::vector<double>& values, double limit) {
  if (!std::isfinite(limit) || axis.max <= limit || axis.min >= limit) return;
  for (double v : values) {
    if (std::isfinite(v) && v > limit) return;
  }
  axis.max = std::min(axis.max, limit + 0.03 * (limit - axis.min));
  std::erase_if(axis.ticks, [&](double t) { return t > limit + 1e-9 * axis.step; });
}

}  // namespace

std::vector<PointXY> marker_polygon(PointXY p, MarkerShape shape, double size) {
  const double h = size / 2;
  switch (shape) {
    case MarkerShape::Circle:
      return {};
    case MarkerShape::Square:
      return {{p.x - h * 0.9, p.y - h * 0.9},
              {p.x + h * 0.9, p.y - h * 0.9},
              {p.x + h * 0.9, p.y + h * 0.9},
              {p.x - h * 0.9, p.y + h * 0.9}};
    case MarkerShape::Triangle:
      return {{p.x, p.y - h * 1.1}, {p.x + h * 1.1, p.y + h * 0.9}, {p.x - h * 1.1, p.y + h * 0.9}};
    case MarkerShape::Diamond:
      return {{p.x, p.y - h * 1.2}, {p.x + h, p.y}, {p.x, p.y + h * 1.2}, {p.x - h, p.y}};
    case MarkerShape::TriangleDown:
      return {{p.x - h * 1.1, p.y - h * 0.9}, {p.x + h * 1.1, p.y - h * 0.9}, {p.x, p.y + h * 1.1}};
  }
  return {};
}

void draw_plot(const Plot& plot, double width, double height, PlotCanvas& canvas) {
  const bool data = has_data(plot);
  std::vector<double> xs, ys;
  for (const Series& s : plot.series) {
    if (plot.bars()) {
      const size_t n = std::min(s.y.size(), plot.categories.size());
      ys.insert(ys.end(), s.y.begin(), s.y.begin() + static_cast<std::ptrdiff_t>(n));
    } else {
      for (const PointXY& p : finite_points(s)) {
        xs.push_back(p.x);
        ys.push_back(p.y);
      }
    }
  }
  Frame f;
  f.ax = make_axis(xs, false, 6, true);
  f.ay = make_axis(ys, plot.bars(), 5, true);
  cap_axis(f.ay, ys, plot.y_max_possible);

  double name_width = 0.0;
  for (const Series& s : plot.series) {
    name_width = std::max(name_width,
                          text_width(fit_text(s.name, kLegendNameWidth, kLegendSize), kLegendSize));
  }
  name_width = std::min(name_width, width * 0.3);
  // 12% slack: SVG viewers without Helvetica or Arial substitute wider fonts.
  const double legend_width = plot.series.empty() ? 0.0 : 28 + name_width * 1.12 + 12;

  double tick_width = 0.0;
  for (double t : f.ay.ticks)
    tick_width = std::max(tick_width, text_width(tick_label(t, f.ay), kTickSize));
  f.x0 = 10 + (plot.y_label.empty() ? 0 : kLabelSize + 8) + tick_width + 8;
  f.x1 = std::max(f.x0 + 40, width - legend_width - 12);
  f.y0 = plot.title.empty() ? 14 : 40;
  f.y1 =
      std::max(f.y0 + 40, height - (14 + kTickSize + (plot.x_label.empty() ? 0 : kLabelSize + 8)));

  if (!plot.title.empty()) {
    canvas.text({width / 2, 24}, fit_text(plot.title, width - 20, kTitleSize, Font::HelveticaBold),
                style(kTitleSize, TextAnchor::Middle, Font::HelveticaBold));
  }
  draw_axes(canvas, plot, f);
  draw_y_label(canvas, plot, f);
  if (!data) {
    canvas.text({(f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2}, "No data",
                style(kLabelSize, TextAnchor::Middle, Font::Helvetica, kGray));
  } else if (plot.bars()) {
    draw_bars(canvas, plot, f);
  } else {
    draw_lines(canvas, plot, f);
  }
  if (!plot.series.empty()) draw_legend(canvas, plot, f.x1 + 12, f.y0, f.y1, name_width);
}

}  // namespace emoe::report
