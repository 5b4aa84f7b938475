// A plot as data (axes, series, bars), rendered to SVG for HTML and to PDF drawing operators by
// the report writers. Deliberately small: line/scatter series on linear axes and grouped bars.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace emoe::report {

struct Series {
  std::string name;       // legend entry
  std::vector<double> x;  // same length as y
  std::vector<double> y;
  bool lines = true;  // false: markers only (scatter)
};

struct Plot {
  std::string id;  // stable identifier ("latency_vs_rate")
  std::string title;
  std::string x_label, y_label;
  std::vector<Series> series;
  // Bar charts: categories along x; each series gives one bar per category (y[i] for
  // categories[i]; x unused).
  std::vector<std::string> categories;
  // A bound no y value can exceed (100 for percentages): the y axis stops just above it instead
  // of at the next nice tick past it. NaN: none.
  double y_max_possible = std::numeric_limits<double>::quiet_NaN();
  bool bars() const { return !categories.empty(); }
};

}  // namespace emoe::report
