#include "core/report/plot_layout.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace emoe::report {

namespace {

// Okabe & Ito (2008), ordered so the first colors contrast most on white; yellow last.
constexpr Rgb kPalette[kPaletteSize] = {{0x00, 0x72, 0xB2}, {0xE6, 0x9F, 0x00}, {0x00, 0x9E, 0x73},
                                        {0xD5, 0x5E, 0x00}, {0xCC, 0x79, 0xA7}, {0x56, 0xB4, 0xE9},
                                        {0x00, 0x00, 0x00}, {0xF0, 0xE4, 0x42}};
constexpr MarkerShape kShapes[] = {MarkerShape::Circle, MarkerShape::Square, MarkerShape::Triangle,
                                   MarkerShape::Diamond, MarkerShape::TriangleDown};

double nice_step(double range, int target_ticks) {
  const double raw = range / std::max(1, target_ticks);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double nice = f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0;
  return nice * mag;
}

}  // namespace

SeriesStyle series_style(size_t index) {
  SeriesStyle s;
  s.color = kPalette[index % kPaletteSize];
  s.marker = kShapes[index % std::size(kShapes)];
  s.dashed = index >= kPaletteSize;
  return s;
}

std::string rgb_hex(Rgb c) {
  static const char* kHex = "0123456789abcdef";
  std::string s = "#";
  for (uint8_t v : {c.r, c.g, c.b}) {
    s += kHex[v >> 4];
    s += kHex[v & 15];
  }
  return s;
}

Axis make_axis(std::span<const double> values, bool include_zero, int target_ticks, bool pad_ends) {
  double lo = INFINITY, hi = -INFINITY;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (lo > hi) {
    lo = 0.0;
    hi = 1.0;
  }
  if (include_zero || (lo >= 0.0 && lo <= 0.5 * hi)) {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
  }
  if (lo == hi) {
    const double d = lo == 0.0 ? 1.0 : std::abs(lo) * 0.1;
    // Non-negative data keeps a non-negative axis (a single latency should not show -10 ms).
    lo = (lo >= 0.0 && lo - d < 0.0) ? 0.0 : lo - d;
    hi = hi + d;
  }
  if (pad_ends && std::isfinite(hi - lo)) {
    const double pad = 0.04 * (hi - lo);
    if (lo != 0.0) lo = (lo > 0.0 && lo - pad < 0.0) ? 0.0 : lo - pad;
    if (hi != 0.0) hi = (hi < 0.0 && hi + pad > 0.0) ? 0.0 : hi + pad;
  }
  // Values near the double range would overflow hi - lo; clamp so the step stays finite.
  if (!std::isfinite(hi - lo)) {
    lo = std::max(lo, -1e307);
    hi = std::min(hi, 1e307);
  }
  Axis axis;
  axis.step = nice_step(hi - lo, target_ticks);
  axis.min = std::floor(lo / axis.step) * axis.step;
  axis.max = std::ceil(hi / axis.step) * axis.step;
  if (!(axis.max > axis.min)) axis.max = axis.min + axis.step;
  const auto count = static_cast<int>(std::llround((axis.max - axis.min) / axis.step));
  for (int i = 0; i <= std::min(count, 100); ++i) {
    double t = axis.min + i * axis.step;
    if (std::abs(t) < axis.step * 1e-9) t = 0.0;
    axis.ticks.push_back(t);
  }
  const double mag = std::floor(std::log10(axis.step) + 1e-9);
  const double largest = std::max(std::abs(axis.min), std::abs(axis.max));
  axis.decimals = (largest >= 1e9 || mag < -6) ? -1 : static_cast<int>(std::max(0.0, -mag));
  return axis;
}

std::string tick_label(double v, const Axis& axis) {
  if (axis.decimals < 0) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 3);
    return std::string(buf, r.ptr);
  }
  return format_fixed(v, axis.decimals);
}

std::string format_fixed(double v, int decimals) {
  if (!std::isfinite(v)) return "-";
  char buf[400];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  if (r.ec != std::errc()) return "-";
  std::string s(buf, r.ptr);
  // "-0.00" reads as a sign error in a table of non-negative values.
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

std::string format_shortest(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace emoe::report
