// Plots as SVG: nice axes and tick labels, one polyline per line series with its finite
// points, markers, a legend entry per series, y mapped downwards, grouped bars, and the edge
// cases (no data, one point, equal values, NaN/inf, long and hostile names). The SVG is
// checked with Qt's XML parser, independent of the writer.
#include <QXmlStreamReader>
#include <QtTest>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/report/font_metrics.h"
#include "core/report/plot_layout.h"
#include "core/report/svg_plot.h"
#include "core/report/text_encoding.h"

using namespace emoe::report;

namespace {

struct SvgSeries {
  std::vector<std::vector<std::pair<double, double>>> polylines;
  int markers = 0;
  std::vector<std::pair<double, double>> marker_centres;
  struct Bar {
    double x, y, w, h;
  };
  std::vector<Bar> bars;
};

struct SvgDoc {
  QString error;
  std::map<std::string, SvgSeries> series;  // by data-name
  std::vector<std::string> series_order;
  std::vector<std::string> legend_names;  // data-name of legend entries
  std::vector<std::string> legend_texts;  // their text
  std::vector<std::string> texts;         // every <text>, in order
  std::set<std::string> colors;           // polyline strokes
};

std::vector<std::pair<double, double>> parse_points(const QString& s) {
  std::vector<std::pair<double, double>> out;
  for (const QString& pair : s.split(' ', Qt::SkipEmptyParts)) {
    const QStringList xy = pair.split(',');
    out.emplace_back(xy[0].toDouble(), xy[1].toDouble());
  }
  return out;
}

SvgDoc parse_svg(const std::string& svg) {
  SvgDoc doc;
  QXmlStreamReader xml(QByteArray::fromStdString(svg));
  std::vector<std::pair<std::string, std::string>> groups;  // (class, data-name)
  bool in_legend_text = false;
  while (!xml.atEnd()) {
    xml.readNext();
    if (xml.isStartElement()) {
      const auto a = xml.attributes();
      const std::string name = xml.name().toString().toStdString();
      std::string series;
      for (auto it = groups.rbegin(); it != groups.rend(); ++it) {
        if (it->first == "series") series = it->second;
      }
      if (name == "g") {
        const std::string cls = a.value("class").toString().toStdString();
        const std::string dn = a.value("data-name").toString().toStdString();
        groups.emplace_back(cls, dn);
        if (cls == "series") {
          doc.series[dn];
          doc.series_order.push_back(dn);
        }
        if (cls == "legend-entry") doc.legend_names.push_back(dn);
      } else if (name == "polyline" && !series.empty()) {
        doc.series[series].polylines.push_back(parse_points(a.value("points").toString()));
        doc.colors.insert(a.value("stroke").toString().toStdString());
      } else if ((name == "circle" || name == "polygon") &&
                 a.value("class") == QLatin1String("marker") && !series.empty()) {
        ++doc.series[series].markers;
        if (name == "circle") {
          doc.series[series].marker_centres.emplace_back(a.value("cx").toDouble(),
                                                         a.value("cy").toDouble());
        }
      } else if (name == "rect" && a.value("class") == QLatin1String("bar") && !series.empty()) {
        doc.series[series].bars.push_back({a.value("x").toDouble(), a.value("y").toDouble(),
                                           a.value("width").toDouble(),
                                           a.value("height").toDouble()});
      } else if (name == "text") {
        in_legend_text = !groups.empty() && groups.back().first == "legend-entry";
        const std::string t = xml.readElementText().toStdString();
        doc.texts.push_back(t);
        if (in_legend_text) doc.legend_texts.push_back(t);
        continue;
      }
    } else if (xml.isEndElement() && xml.name() == QLatin1String("g")) {
      groups.pop_back();
    }
  }
  if (xml.hasError()) doc.error = xml.errorString();
  return doc;
}

bool has_text(const SvgDoc& d, const std::string& t) {
  for (const std::string& s : d.texts) {
    if (s == t) return true;
  }
  return false;
}

Plot line_plot() {
  Plot p;
  p.id = "t";
  p.title = "Latency vs rate";
  p.x_label = "Rate";
  p.y_label = "Latency (ms)";
  p.series.push_back({"emoe", {1, 2, 4}, {110, 150, 260}, true});
  p.series.push_back({"fcfs", {1, 2, 4}, {210, 240, 300}, true});
  p.series.push_back({"sjf", {1, 2, 4, 8}, {130, 90, 170, 400}, true});
  return p;
}

}  // namespace

class TestPlotRender : public QObject {
  Q_OBJECT

 private slots:
  void nice_axes() {
    const std::vector<double> a = {0.3, 9.7};
    Axis ax = make_axis(a);
    QCOMPARE(ax.min, 0.0);
    QCOMPARE(ax.max, 10.0);
    QCOMPARE(ax.step, 2.0);
    QCOMPARE(ax.ticks.size(), size_t{6});
    QCOMPARE(tick_label(ax.ticks[3], ax), std::string("6"));

    const std::vector<double> b = {101, 149};  // far from zero: not stretched to 0
    ax = make_axis(b);
    QCOMPARE(ax.min, 100.0);
    QCOMPARE(ax.max, 150.0);
    QCOMPARE(ax.step, 10.0);

    const std::vector<double> c = {3, 10};  // min <= max/2: from zero
    QCOMPARE(make_axis(c).min, 0.0);

    const std::vector<double> d = {0.012, 0.018};
    ax = make_axis(d);
    QCOMPARE(ax.step, 0.001);
    QCOMPARE(ax.decimals, 3);
    QVERIFY(ax.min <= 0.012 && ax.max >= 0.018);
    QCOMPARE(tick_label(0.013, ax), std::string("0.013"));

    const std::vector<double> neg = {-7, -1};
    ax = make_axis(neg);
    QVERIFY(ax.min <= -7 && ax.max >= -1 && ax.max <= 0);
    for (double t : ax.ticks) QVERIFY(tick_label(t, ax) != "-0");

    // Nothing finite: [0, 1]; NaN and inf are ignored next to finite values.
    const std::vector<double> none = {NAN, INFINITY};
    ax = make_axis(none);
    QCOMPARE(ax.min, 0.0);
    QCOMPARE(ax.max, 1.0);
    const std::vector<double> mixed = {NAN, 20, -INFINITY, 40, INFINITY};
    ax = make_axis(mixed);
    QCOMPARE(ax.min, 0.0);
    QCOMPARE(ax.max, 40.0);

    // Equal values: a non-empty range around them; zero alone too.
    const std::vector<double> same = {5, 5, 5};
    ax = make_axis(same);
    QVERIFY(ax.min <= 5 && ax.max >= 5 && ax.max > ax.min);
    QVERIFY(ax.min >= 0);
    const std::vector<double> zero = {0};
    ax = make_axis(zero);
    QVERIFY(ax.min <= 0 && ax.max > 0);

    // Bars start at zero.
    const std::vector<double> bars = {50, 60};
    QCOMPARE(make_axis(bars, true).min, 0.0);

    // Padded ends leave room beyond the data, but not past zero.
    const std::vector<double> acc = {90, 100};
    ax = make_axis(acc, false, 5, true);
    QVERIFY(ax.min < 90 && ax.max > 100);
    const std::vector<double> frac = {0, 1};
    ax = make_axis(frac, false, 5, true);
    QCOMPARE(ax.min, 0.0);
    QVERIFY(ax.max > 1);

    // Ticks are ascending, step apart, inside the range.
    const std::vector<double> e = {1234.5, 98765.4};
    ax = make_axis(e);
    for (size_t i = 1; i < ax.ticks.size(); ++i) {
      QVERIFY(std::abs(ax.ticks[i] - ax.ticks[i - 1] - ax.step) < ax.step * 1e-9);
    }
    QVERIFY(ax.ticks.front() >= ax.min && ax.ticks.back() <= ax.max);
  }

  void distinct_styles() {
    std::set<std::string> colors;
    for (size_t i = 0; i < kPaletteSize; ++i) colors.insert(rgb_hex(series_style(i).color));
    QCOMPARE(colors.size(), kPaletteSize);
    QVERIFY(!series_style(0).dashed);
    QVERIFY(series_style(kPaletteSize).dashed);  // colors repeat: told apart by the dash
    QVERIFY(series_style(0).marker != series_style(1).marker);
  }

  void line_series_polylines_markers_and_legend() {
    const Plot plot = line_plot();
    const std::string svg = plot_svg(plot);
    const SvgDoc d = parse_svg(svg);
    QVERIFY2(d.error.isEmpty(), qPrintable(d.error));
    QCOMPARE(d.series.size(), size_t{3});
    for (const Series& s : plot.series) {
      const SvgSeries& g = d.series.at(s.name);
      QCOMPARE(g.polylines.size(), size_t{1});
      QCOMPARE(g.polylines[0].size(), s.x.size());
      QCOMPARE(g.markers, static_cast<int>(s.x.size()));
      // Larger data -> larger SVG x, smaller SVG y (the y axis points down in SVG).
      const auto& pts = g.polylines[0];
      for (size_t i = 0; i < pts.size(); ++i) {
        for (size_t j = 0; j < pts.size(); ++j) {
          if (s.x[i] < s.x[j]) QVERIFY(pts[i].first < pts[j].first);
          if (s.y[i] > s.y[j]) QVERIFY(pts[i].second < pts[j].second);
        }
      }
    }
    // The mapping is one affine function for all series: equal data y, equal SVG y.
    Plot two;
    two.series.push_back({"a", {0, 1}, {5, 7}, true});
    two.series.push_back({"b", {0, 1}, {7, 5}, true});
    const SvgDoc d2 = parse_svg(plot_svg(two));
    QCOMPARE(d2.series.at("a").polylines[0][0].second, d2.series.at("b").polylines[0][1].second);
    QCOMPARE(d2.series.at("a").polylines[0][1].second, d2.series.at("b").polylines[0][0].second);

    QCOMPARE(d.legend_names, (std::vector<std::string>{"emoe", "fcfs", "sjf"}));
    QCOMPARE(d.legend_texts, (std::vector<std::string>{"emoe", "fcfs", "sjf"}));
    QCOMPARE(d.colors.size(), size_t{3});
    QVERIFY(has_text(d, "Latency vs rate"));
    QVERIFY(has_text(d, "Latency (ms)"));
    QVERIFY(has_text(d, "Rate"));
    // y axis 0..400 in steps of 100 (from 0 since 90 <= 400 / 2; 400 / 5 = 80 rounds to 100).
    QVERIFY(has_text(d, "0"));
    QVERIFY(has_text(d, "400"));
    QVERIFY(has_text(d, "200"));
  }

  void non_finite_points_are_skipped() {
    Plot p;
    p.series.push_back({"gaps", {1, 2, 3, 4, 5}, {10, NAN, 30, INFINITY, 50}, true});
    p.series.push_back({"bad x", {NAN, 2}, {1, 2}, true});
    const SvgDoc d = parse_svg(plot_svg(p));
    QVERIFY2(d.error.isEmpty(), qPrintable(d.error));
    QCOMPARE(d.series.at("gaps").polylines.size(), size_t{1});
    QCOMPARE(d.series.at("gaps").polylines[0].size(), size_t{3});
    QCOMPARE(d.series.at("gaps").markers, 3);
    // One finite point: a marker, no line.
    QCOMPARE(d.series.at("bad x").polylines.size(), size_t{0});
    QCOMPARE(d.series.at("bad x").markers, 1);
    for (const std::string& t : d.texts) {
      QVERIFY2(t.find("nan") == std::string::npos && t.find("inf") == std::string::npos, t.c_str());
    }
  }

  void single_point_and_equal_values() {
    Plot p;
    p.title = "One";
    p.series.push_back({"only", {3}, {42}, true});
    SvgDoc d = parse_svg(plot_svg(p));
    QVERIFY2(d.error.isEmpty(), qPrintable(d.error));
    QCOMPARE(d.series.at("only").polylines.size(), size_t{0});
    QCOMPARE(d.series.at("only").marker_centres.size(), size_t{1});
    // The point lies inside the drawing, not on a degenerate axis.
    const auto [cx, cy] = d.series.at("only").marker_centres[0];
    QVERIFY(std::isfinite(cx) && std::isfinite(cy));
    QVERIFY(cx > 0 && cx < kSvgPlotWidth && cy > 0 && cy < kSvgPlotHeight);

    Plot flat;
    flat.series.push_back({"flat", {1, 2, 3}, {7, 7, 7}, true});
    d = parse_svg(plot_svg(flat));
    const auto& pts = d.series.at("flat").polylines.at(0);
    QCOMPARE(pts[0].second, pts[2].second);
    QVERIFY(pts[0].first < pts[1].first && pts[1].first < pts[2].first);
  }

  void empty_plots_say_no_data() {
    Plot nothing;
    nothing.title = "Empty";
    SvgDoc d = parse_svg(plot_svg(nothing));
    QVERIFY2(d.error.isEmpty(), qPrintable(d.error));
    QVERIFY(has_text(d, "No data"));
    QVERIFY(d.series.empty());

    Plot empty_series;
    empty_series.series.push_back({"none", {}, {}, true});
    empty_series.series.push_back({"nan", {1}, {NAN}, true});
    d = parse_svg(plot_svg(empty_series));
    QVERIFY(has_text(d, "No data"));
    QCOMPARE(d.legend_names.size(), size_t{2});  // still named

    Plot empty_bars;
    empty_bars.categories = {"a"};
    empty_bars.series.push_back({"b", {}, {NAN}, true});
    d = parse_svg(plot_svg(empty_bars));
    QVERIFY2(d.error.isEmpty(), qPrintable(d.error));
    QVERIFY(has_text(d, "No data"));
  }

  void long_names_get_an_ellipsis() {
    Plot p;
    const std::string long_name(200, 'w');
    p.series.push_back({long_name, {1, 2}, {1, 2}, true});
    const SvgDoc d = parse_svg(plot_svg(p));
    QCOMPARE(d.legend_names.at(0), long_name);  // the full name stays in the data
    const std::string& shown = d.legend_texts.at(0);
    QVERIFY(shown.size() < 100);
    QVERIFY(shown.size() >= 3 && shown.compare(shown.size() - 3, 3, "\xE2\x80\xA6") == 0);
    // And the legend stays inside the drawing.
    QVERIFY(text_width(shown, 10.0) <= 200.0);
  }

  void hostile_names_are_escaped() {
    Plot p;
    const std::string hostile = "<b>&\"(x)\\";
    p.title = hostile + " title";
    p.x_label = "x & y";
    p.series.push_back({hostile, {1, 2}, {3, 4}, true});
    p.series.push_back({"ctl\x01\xff", {1, 2}, {4, 3}, true});
    const std::string svg = plot_svg(p);
    QVERIFY(svg.find("<b>") == std::string::npos);
    QVERIFY(svg.find("&lt;b&gt;&amp;&quot;(x)\\") != std::string::npos);
    const SvgDoc d = parse_svg(svg);
    QVERIFY2(d.error.isEmpty(), qPrintable(d.error));
    QVERIFY(d.series.count(hostile) == 1);
    QVERIFY(has_text(d, hostile));
    QVERIFY(has_text(d, hostile + " title"));
    QVERIFY(has_text(d, "x & y"));
    // Control bytes and invalid UTF-8 become U+FFFD, never raw.
    QVERIFY(has_text(d, "ctl\xEF\xBF\xBD\xEF\xBF\xBD"));
  }

  void grouped_bars() {
    Plot p;
    p.title = "Capacity";
    p.categories = {"100%", "60%", "30%"};
    p.series.push_back({"max batch", {}, {4, 8, 12}, false});
    p.series.push_back({"other", {}, {2, NAN, 6}, false});
    const SvgDoc d = parse_svg(plot_svg(p));
    QVERIFY2(d.error.isEmpty(), qPrintable(d.error));
    const auto& a = d.series.at("max batch").bars;
    const auto& b = d.series.at("other").bars;
    QCOMPARE(a.size(), size_t{3});
    QCOMPARE(b.size(), size_t{2});  // the NaN bar is skipped
    // Heights proportional to the values (the axis starts at 0), bottoms on one baseline.
    QVERIFY(std::abs(a[1].h / a[0].h - 2.0) < 0.02);
    QVERIFY(std::abs(a[2].h / a[0].h - 3.0) < 0.02);
    QVERIFY(std::abs(b[0].h / a[0].h - 0.5) < 0.02);
    QVERIFY(std::abs((a[0].y + a[0].h) - (b[1].y + b[1].h)) < 0.02);
    // Grouped: within a category the series sit side by side, categories left to right.
    QVERIFY(std::abs(a[0].x + a[0].w - b[0].x) < 0.02);
    QVERIFY(a[0].x < a[1].x && a[1].x < a[2].x);
    QVERIFY(b[1].x > a[2].x);  // the second bar of "other" is in category 3
    for (const char* c : {"100%", "60%", "30%"}) QVERIFY(has_text(d, c));
    QVERIFY(has_text(d, "12"));  // value label above the bar
  }

  void percentages_stop_at_100() {
    Plot p;
    p.y_max_possible = 100.0;
    p.series.push_back({"acc", {1, 2}, {22.5, 100}, true});
    SvgDoc d = parse_svg(plot_svg(p));
    QVERIFY(has_text(d, "100"));
    QVERIFY(!has_text(d, "120"));
    // The 100 % point stays inside the plot area: above it there is still a little room.
    const auto& pts = d.series.at("acc").polylines.at(0);
    QVERIFY(pts[1].second < pts[0].second);
    // Without the bound the nice range goes past 100.
    p.y_max_possible = NAN;
    d = parse_svg(plot_svg(p));
    QVERIFY(has_text(d, "120"));
    // A value above the bound keeps the full range.
    p.y_max_possible = 100.0;
    p.series[0].y[1] = 101;
    QVERIFY(has_text(parse_svg(plot_svg(p)), "120"));
  }

  void memory_traces_skip_markers() {
    Plot p;
    Series s{"trace", {}, {}, true};
    for (int i = 0; i < 500; ++i) {
      s.x.push_back(i);
      s.y.push_back(std::sin(i * 0.1));
    }
    p.series.push_back(s);
    const SvgDoc d = parse_svg(plot_svg(p));
    QCOMPARE(d.series.at("trace").polylines.at(0).size(), size_t{500});
    QCOMPARE(d.series.at("trace").markers, 0);
  }

  void many_series_count_the_rest() {
    Plot p;
    for (int i = 0; i < 60; ++i)
      p.series.push_back({std::string("s").append(std::to_string(i)), {0, 1}, {0, 1.0 * i}, true});
    const SvgDoc d = parse_svg(plot_svg(p));
    QVERIFY2(d.error.isEmpty(), qPrintable(d.error));
    QCOMPARE(d.series.size(), size_t{60});
    QVERIFY(d.legend_names.size() < 60);
    const std::string more = std::to_string(60 - d.legend_names.size());
    QVERIFY(has_text(d, std::string("+").append(more).append(" more")));
  }

  void text_encoding() {
    // UTF-8 -> WinAnsi: Latin-1 as is, cp1252 extras, mu -> micro, others '?'.
    QCOMPARE(utf8_to_winansi("caf\xC3\xA9 \xE2\x80\x93 5 \xCE\xBCs \xE2\x82\xAC \xE6\x97\xA5"),
             std::string("caf\xE9 \x96 5 \xB5s \x80 ?"));
    QCOMPARE(utf8_to_winansi("a\x01\xFF"
                             "b"),
             std::string("a??b"));
    QCOMPARE(utf8_to_winansi("\xE2\x80\xA6\xE2\x80\x9C\xE2\x80\x9D"), std::string("\x85\x93\x94"));
    QCOMPARE(pdf_literal("(a\\b)"), std::string("(\\(a\\\\b\\))"));
    QCOMPARE(pdf_literal(std::string("\xE9\n", 2)), std::string("(\\351\\012)"));
    QCOMPARE(pdf_text_string("Plain"), std::string("(Plain)"));
    QCOMPARE(pdf_text_string("\xC3\xA9"), std::string("<FEFF00E9>"));
    QCOMPARE(pdf_text_string("\xF0\x9F\x98\x80"), std::string("<FEFFD83DDE00>"));
    QCOMPARE(xml_escape("a<b>&\"'"), std::string("a&lt;b&gt;&amp;&quot;&#39;"));
    QCOMPARE(truncate_code_points("h\xC3\xA9llo", 3), std::string("h\xC3\xA9\xE2\x80\xA6"));
    QCOMPARE(truncate_code_points("abc", 3), std::string("abc"));
    // Helvetica metrics: "Hi" = H 722 + i 222.
    QCOMPARE(text_width("Hi", 10.0), 9.44);
    QCOMPARE(text_width("Hi", 10.0, Font::Courier), 12.0);
    const std::string fitted = fit_text("abcdefghijklmnop", 30.0, 10.0);
    QVERIFY(text_width(fitted, 10.0) <= 30.0);
    QVERIFY(fitted.size() > 3 && fitted.compare(fitted.size() - 3, 3, "\xE2\x80\xA6") == 0);
    QCOMPARE(fit_text("ab", 30.0, 10.0), std::string("ab"));
    QCOMPARE(format_fixed(-0.001, 2), std::string("0.00"));
    QCOMPARE(format_fixed(NAN, 2), std::string("-"));
    QCOMPARE(format_shortest(0.1), std::string("0.1"));
  }
};

QTEST_GUILESS_MAIN(TestPlotRender)
#include "test_plot_render.moc"
