// Device-tier bytes over time, stacked dense / experts / KV, with the budget line (dense +
// expert budget + KV) and markers for loads and evictions (thinned out when dense); below it,
// hit rate and expert bytes loaded per token per step.
#pragma once

#include <QWidget>
#include <limits>
#include <vector>

#include "ui/telemetry.h"

class QCustomPlot;
class QCPGraph;

namespace emoe::ui {

class MemoryPlotView : public QWidget {
  Q_OBJECT

 public:
  explicit MemoryPlotView(QWidget* parent = nullptr);

  void append(const std::vector<MemoryPoint>& points);
  // LoadFinished and Evicted are drawn, at most one marker of each kind per kMarkerSpacing_s.
  void add_events(const std::vector<ExpertEventPoint>& events);
  void add_steps(const std::vector<StepStats>& steps);
  void clear();
  void replot_if_dirty(bool queued = false);  // queued: on the next event-loop pass

  const std::vector<MemoryPoint>& points() const { return points_; }
  QCustomPlot* plot() const { return plot_; }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  // Points kept per series (the oldest are dropped in chunks); the plot keeps its graphs'
  // data and appends only what arrives, and QCustomPlot's adaptive sampling draws at most a
  // few points per pixel column, so a replot costs the same however long the history is.
  static constexpr int kMaxHistory = 20000;
  static constexpr int kMaxMarkers = 4000;          // loads and evictions each
  static constexpr double kMarkerSpacing_s = 0.05;  // at most one marker of a kind per 50 ms

  void add_markers(const std::vector<ExpertEventPoint>& events);
  void update_ranges();
  void apply_colors();
  double experts_curve_at(double time_s) const;  // MiB of dense + experts at that time

  std::vector<MemoryPoint> points_;
  // Loads and evictions that came before any memory point: placed on the curve once it starts.
  std::vector<ExpertEventPoint> waiting_events_;
  // The newest marker of each kind (seconds; -inf: none yet).
  double last_load_s_ = -std::numeric_limits<double>::infinity();
  double last_eviction_s_ = -std::numeric_limits<double>::infinity();
  bool dirty_ = true;
  bool follow_ = true;  // ranges track the data until the user zooms or drags
  bool syncing_ = false;
  QCustomPlot* plot_ = nullptr;
  QCPGraph* dense_ = nullptr;
  QCPGraph* experts_ = nullptr;
  QCPGraph* kv_ = nullptr;
  QCPGraph* budget_ = nullptr;
  QCPGraph* loads_ = nullptr;
  QCPGraph* evictions_ = nullptr;
  QCPGraph* hit_rate_ = nullptr;
  QCPGraph* bytes_per_token_ = nullptr;
};

}  // namespace emoe::ui
