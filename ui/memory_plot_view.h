// Device-tier bytes over time, stacked dense / experts / KV, with the budget line (dense +
// expert budget + KV) and markers for loads and evictions; below it, hit rate and expert bytes
// loaded per token per step.
#pragma once

#include <QWidget>
#include <deque>
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
  void add_events(const std::vector<ExpertEventPoint>& events);  // LoadFinished and Evicted drawn
  void add_steps(const std::vector<StepStats>& steps);
  void clear();
  void replot_if_dirty();

  const std::vector<MemoryPoint>& points() const { return points_; }
  QCustomPlot* plot() const { return plot_; }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  // History kept per series; older entries are dropped so a replot stays cheap.
  static constexpr size_t kMaxHistory = 20000;

  void rebuild();
  void apply_colors();
  double experts_curve_at(double time_s) const;  // MiB of dense + experts at that time

  std::vector<MemoryPoint> points_;
  std::deque<ExpertEventPoint> events_;  // LoadFinished and Evicted only
  std::deque<StepStats> steps_;
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
