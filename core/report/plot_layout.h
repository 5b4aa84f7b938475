// The parts of drawing a plot that do not depend on the output format: axis ranges with
// "nice" ticks (1, 2 or 5 times a power of ten), tick labels, and the series colors and
// marker shapes (Okabe-Ito palette: distinguishable with the common color-vision deficiencies,
// and every series also gets its own marker shape so print in gray still tells them apart).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace emoe::report {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb&) const = default;
};

enum class MarkerShape { Circle, Square, Triangle, Diamond, TriangleDown };

struct SeriesStyle {
  Rgb color;
  MarkerShape marker = MarkerShape::Circle;
  bool dashed = false;  // series past the palette's length: the colors repeat, dashed
};

inline constexpr size_t kPaletteSize = 8;
SeriesStyle series_style(size_t index);
// "#0072b2"
std::string rgb_hex(Rgb c);

struct Axis {
  double min = 0.0, max = 1.0;  // the drawn range; max > min always
  double step = 0.2;
  std::vector<double> ticks;  // multiples of step within [min, max], ascending
  int decimals = 1;           // for tick labels; -1: general format (huge or tiny values)
};

// An axis covering every finite value (non-finite ones are ignored), widened to whole steps.
// No finite value: [0, 1]. All equal: a small range around the value. include_zero: the range
// reaches 0 (bar charts). Otherwise a range of non-negative values starts at 0 when its minimum
// is at most half its maximum, so plots of latencies or rates do not exaggerate differences.
// pad_ends: 4% of room beyond the data at each end that is not 0, so markers and bar labels at
// the extremes do not sit on the frame.
Axis make_axis(std::span<const double> values, bool include_zero = false, int target_ticks = 5,
               bool pad_ends = false);

// A tick label for v on axis (fixed decimals from the step, never "-0").
std::string tick_label(double v, const Axis& axis);

// Locale-independent number formatting for labels and tables: fixed decimals; non-finite
// values as "-" (tables) since NaN means "not measured".
std::string format_fixed(double v, int decimals);
// The shortest text that reads back as v (CSV and JSON raw data); non-finite as "".
std::string format_shortest(double v);

}  // namespace emoe::report
