// Lays a Plot out in a width x height box and draws it on a PlotCanvas: the title on top, the
// axes with nice ticks, grid lines and labels, the series (a polyline through the finite
// points of each line series plus a marker per point, or grouped bars), and a legend on the
// right with each series' color, marker and name (cut with an ellipsis when too long).
// Non-finite values are skipped; a plot without any finite value says "No data".
#pragma once

#include "core/report/plot.h"
#include "core/report/plot_canvas.h"

namespace emoe::report {

// Series with more points than this get no per-point markers (memory-over-time traces).
inline constexpr size_t kMaxMarkedPoints = 60;
// Legend names longer than this many points of width are cut with an ellipsis.
inline constexpr double kLegendNameWidth = 190.0;

void draw_plot(const Plot& plot, double width, double height, PlotCanvas& canvas);

}  // namespace emoe::report
