// A Plot as a standalone SVG document (also valid inline in HTML5): vector marks, text in
// Helvetica/Arial, every name XML-escaped. Marks carry classes so readers and tests can find
// them: <g class="series" data-name="..."> holds one series' polyline (class "line") and its
// markers (class "marker") or bars (class "bar"); <g class="legend"> holds one
// <g class="legend-entry" data-name="..."> per shown series with its <text>.
#pragma once

#include <string>

#include "core/report/plot.h"

namespace emoe::report {

inline constexpr double kSvgPlotWidth = 760.0;
inline constexpr double kSvgPlotHeight = 420.0;

std::string plot_svg(const Plot& plot, double width = kSvgPlotWidth,
                     double height = kSvgPlotHeight);

}  // namespace emoe::report
