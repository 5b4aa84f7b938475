// experiment_plots(): which figures an ExperimentResult supports and how its points become
// series (the naming and averaging rules are documented in experiment_report.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/report/experiment_report.h"
#include "core/report/plot_layout.h"

namespace emoe::report {

namespace {

using experiment::ExperimentPoint;
using experiment::PointResult;

enum class Dim { Budget, Predictor, Interval, Scheduler, Rate, Routing, Seed };

std::string dim_text(const ExperimentPoint& p, Dim d) {
  switch (d) {
    case Dim::Budget:
      return p.budget;
    case Dim::Predictor:
      return p.predictor;
    case Dim::Interval:
      return "p=" + std::to_string(p.interval);
    case Dim::Scheduler:
      return p.scheduler;
    case Dim::Rate:
      return format_shortest(p.arrival_rate) + "/s";
    case Dim::Routing:
      return std::string(engine::routing_mode_name(p.routing));
    case Dim::Seed:
      return "seed " + std::to_string(p.seed);
  }
  return {};
}

bool varies(const std::vector<PointResult>& points, Dim d) {
  for (const PointResult& p : points) {
    if (dim_text(p.point, d) != dim_text(points.front().point, d)) return true;
  }
  return false;
}

// The primary dimensions always, the optional ones only when they vary across the points (a
// dimension every point shares would only lengthen every name).
std::string series_key(const std::vector<PointResult>& points, const ExperimentPoint& p,
                       std::initializer_list<Dim> primary, std::initializer_list<Dim> optional) {
  std::string key;
  const auto add = [&](Dim d) { key += (key.empty() ? "" : ", ") + dim_text(p, d); };
  for (Dim d : primary) add(d);
  for (Dim d : optional) {
    if (varies(points, d)) add(d);
  }
  return key;
}

// Series built from (series, group) cells whose x and y are the means of what was added;
// series in order of first appearance, points sorted by x. Non-finite values are not added.
class SeriesBuilder {
 public:
  void add(const std::string& series, const std::string& group, double x, double y) {
    if (!std::isfinite(x) || !std::isfinite(y)) return;
    if (cells_.find(series) == cells_.end()) order_.push_back(series);
    Cell& c = cells_[series][group];
    c.x += x;
    c.y += y;
    ++c.n;
  }

  std::vector<Series> build(const std::string& suffix = {}) const {
    std::vector<Series> out;
    for (const std::string& name : order_) {
      std::vector<std::pair<double, double>> xy;
      for (const auto& [group, c] : cells_.at(name)) xy.emplace_back(c.x / c.n, c.y / c.n);
      std::sort(xy.begin(), xy.end());
      Series s;
      s.name = name + suffix;
      for (const auto& [x, y] : xy) {
        s.x.push_back(x);
        s.y.push_back(y);
      }
      out.push_back(std::move(s));
    }
    return out;
  }

 private:
  struct Cell {
    double x = 0.0, y = 0.0;
    int n = 0;
  };
  std::vector<std::string> order_;
  std::map<std::string, std::map<std::string, Cell>> cells_;
};

struct ByteUnit {
  double divisor;
  const char* name;
};

ByteUnit byte_unit(double largest) {
  if (largest >= 1e9) return {1e9, "GB"};
  if (largest >= 1e6) return {1e6, "MB"};
  if (largest >= 1e3) return {1e3, "KB"};
  return {1.0, "bytes"};
}

bool any_points(const std::vector<Series>& series) {
  for (const Series& s : series) {
    if (!s.x.empty()) return true;
  }
  return false;
}

std::string rate_axis_label(const std::vector<PointResult>& points) {
  for (const PointResult& p : points) {
    if (p.point.arrival_rate == 0.0)
      return "Arrival rate (requests/s; 0: the workload file's times)";
  }
  return "Arrival rate (requests/s)";
}

// One plot per metric against the arrival rate, series per scheduler (+ varying budget,
// predictor, p, routing), seeds averaged.
void add_rate_plot(std::vector<Plot>& plots, const std::vector<PointResult>& points,
                   const std::string& id, const std::string& title, const std::string& y_label,
                   double (*metric)(const PointResult&),
                   double y_max_possible = std::numeric_limits<double>::quiet_NaN()) {
  SeriesBuilder b;
  for (const PointResult& p : points) {
    const std::string key = series_key(points, p.point, {Dim::Scheduler},
                                       {Dim::Budget, Dim::Predictor, Dim::Interval, Dim::Routing});
    b.add(key, format_shortest(p.point.arrival_rate), p.point.arrival_rate, metric(p));
  }
  Plot plot;
  plot.id = id;
  plot.title = title;
  plot.x_label = rate_axis_label(points);
  plot.y_label = y_label;
  plot.y_max_possible = y_max_possible;
  plot.series = b.build();
  if (any_points(plot.series)) plots.push_back(std::move(plot));
}

double completed_or_nan(const PointResult& p, double v) { return p.run.completed > 0 ? v : NAN; }

void add_memory_vs_accuracy(std::vector<Plot>& plots, const std::vector<PointResult>& points) {
  double largest = 0.0;
  for (const PointResult& p : points) {
    if (p.accuracy_measured) largest = std::max(largest, static_cast<double>(p.peak_total_bytes));
  }
  const ByteUnit unit = byte_unit(largest);
  SeriesBuilder b;
  for (const PointResult& p : points) {
    if (!p.accuracy_measured) continue;
    const std::string key =
        series_key(points, p.point, {Dim::Predictor}, {Dim::Routing, Dim::Interval});
    b.add(key, p.point.budget, static_cast<double>(p.peak_total_bytes) / unit.divisor,
          p.accuracy * 100.0);
  }
  Plot plot;
  plot.id = "memory_vs_accuracy";
  plot.title = "Device memory vs accuracy";
  plot.x_label = std::string("Peak device memory (") + unit.name + ")";
  plot.y_label = "Accuracy (% tokens agreeing with the full model)";
  plot.y_max_possible = 100.0;
  plot.series = b.build();
  if (any_points(plot.series)) plots.push_back(std::move(plot));
}

void add_p_sweep(std::vector<Plot>& plots, const std::vector<PointResult>& points) {
  std::vector<int32_t> intervals;
  for (const PointResult& p : points) {
    if (p.point.interval > 0 &&
        std::find(intervals.begin(), intervals.end(), p.point.interval) == intervals.end()) {
      intervals.push_back(p.point.interval);
    }
  }
  if (intervals.size() < 2) return;
  SeriesBuilder accuracy, hit_rate;
  for (const PointResult& p : points) {
    if (p.point.interval <= 0) continue;
    const std::string key =
        series_key(points, p.point, {Dim::Predictor}, {Dim::Budget, Dim::Routing});
    const std::string group = std::to_string(p.point.interval);
    if (p.accuracy_measured) accuracy.add(key, group, p.point.interval, p.accuracy * 100.0);
    hit_rate.add(key, group, p.point.interval, p.hit_rate * 100.0);
  }
  Plot plot;
  plot.id = "p_sweep";
  plot.title = "Accuracy and hit rate vs predictor interval p";
  plot.x_label = "Predictor interval p (prompts)";
  plot.y_label = "%";
  plot.y_max_possible = 100.0;
  // Each predictor's two series side by side in the legend.
  std::vector<Series> acc = accuracy.build(" accuracy"), hits = hit_rate.build(" hit rate");
  for (Series& h : hits) {
    const std::string base = h.name.substr(0, h.name.size() - std::string(" hit rate").size());
    auto it = std::find_if(acc.begin(), acc.end(),
                           [&](const Series& a) { return a.name == base + " accuracy"; });
    if (it != acc.end()) plot.series.push_back(std::move(*it));
    plot.series.push_back(std::move(h));
  }
  if (any_points(plot.series)) plots.push_back(std::move(plot));
}

void add_memory_over_time(std::vector<Plot>& plots, const std::vector<PointResult>& points) {
  std::vector<const PointResult*> with_trace;
  for (const PointResult& p : points) {
    if (!p.memory.empty()) with_trace.push_back(&p);
  }
  if (with_trace.empty()) return;
  // At most 8 traces (the palette), spread evenly over the matrix so both ends are shown.
  constexpr size_t kMaxTraces = kPaletteSize;
  std::vector<const PointResult*> chosen;
  if (with_trace.size() <= kMaxTraces) {
    chosen = with_trace;
  } else {
    for (size_t i = 0; i < kMaxTraces; ++i) {
      chosen.push_back(
          with_trace[(i * (with_trace.size() - 1) + (kMaxTraces - 1) / 2) / (kMaxTraces - 1)]);
    }
  }
  double largest = 0.0;
  for (const PointResult* p : chosen) {
    for (const auto& m : p->memory) largest = std::max(largest, static_cast<double>(m.total()));
  }
  const ByteUnit unit = byte_unit(largest);
  Plot plot;
  plot.id = "memory_over_time";
  plot.title = "Device memory over time";
  plot.x_label = "Time (s)";
  plot.y_label = std::string("Device memory (") + unit.name + ")";
  for (const PointResult* p : chosen) {
    Series s;
    s.name = std::string("#") + std::to_string(p->point.index);
    const std::string key = series_key(points, p->point, {},
                                       {Dim::Scheduler, Dim::Budget, Dim::Predictor, Dim::Interval,
                                        Dim::Rate, Dim::Routing, Dim::Seed});
    if (!key.empty()) s.name += " " + key;
    for (const auto& m : p->memory) {
      s.x.push_back(m.time_ms / 1000.0);
      s.y.push_back(static_cast<double>(m.total()) / unit.divisor);
    }
    plot.series.push_back(std::move(s));
  }
  plots.push_back(std::move(plot));
}

void add_capacity(std::vector<Plot>& plots, const std::vector<experiment::CapacityOutcome>& cap) {
  if (cap.empty()) return;
  Plot batch;
  batch.id = "capacity_batch";
  batch.title = "Capacity: largest batch per expert budget";
  batch.x_label = "Expert budget";
  batch.y_label = "Requests at once";
  Plot prompt = batch;
  prompt.id = "capacity_prompt";
  prompt.title = "Capacity: longest prompt per expert budget";
  prompt.y_label = "Prompt tokens per request";
  Series b{"max batch", {}, {}, false}, p{"max prompt (tokens)", {}, {}, false};
  for (size_t i = 0; i < cap.size(); ++i) {
    batch.categories.push_back(cap[i].budget);
    b.x.push_back(static_cast<double>(i));
    b.y.push_back(cap[i].max_batch);
    p.x.push_back(static_cast<double>(i));
    p.y.push_back(static_cast<double>(cap[i].max_prompt));
  }
  prompt.categories = batch.categories;
  batch.series.push_back(std::move(b));
  prompt.series.push_back(std::move(p));
  plots.push_back(std::move(batch));
  plots.push_back(std::move(prompt));
}

}  // namespace

std::vector<Plot> experiment_plots(const experiment::ExperimentResult& result) {
  std::vector<Plot> plots;
  const std::vector<PointResult>& points = result.points;
  if (!points.empty()) {
    add_rate_plot(plots, points, "latency_vs_rate", "Mean end-to-end latency vs arrival rate",
                  "Mean E2E latency (ms)",
                  [](const PointResult& p) { return completed_or_nan(p, p.run.mean_e2e_ms); });
    add_rate_plot(plots, points, "latency_p90_vs_rate", "p90 end-to-end latency vs arrival rate",
                  "p90 E2E latency (ms)",
                  [](const PointResult& p) { return completed_or_nan(p, p.run.p90_e2e_ms); });
    add_rate_plot(plots, points, "latency_p99_vs_rate", "p99 end-to-end latency vs arrival rate",
                  "p99 E2E latency (ms)",
                  [](const PointResult& p) { return completed_or_nan(p, p.run.p99_e2e_ms); });
    add_rate_plot(plots, points, "ttft_vs_rate", "Mean time to first token vs arrival rate",
                  "Mean TTFT (ms)",
                  [](const PointResult& p) { return completed_or_nan(p, p.run.mean_ttft_ms); });
    add_rate_plot(
        plots, points, "slo_vs_rate", "SLO attainment vs arrival rate", "SLO attainment (%)",
        [](const PointResult& p) { return p.run.slo_attainment * 100.0; }, 100.0);
    add_rate_plot(plots, points, "throughput", "Throughput vs arrival rate",
                  "Throughput (generated tokens/s)",
                  [](const PointResult& p) { return p.run.throughput_tokens_per_s; });
    add_memory_vs_accuracy(plots, points);
    add_p_sweep(plots, points);
    add_memory_over_time(plots, points);
  }
  add_capacity(plots, result.capacity);
  return plots;
}

}  // namespace emoe::report
