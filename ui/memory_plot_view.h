// Device-tier bytes over time, stacked dense / experts / KV, with the budget line (dense +
// expert budget + KV) and markers for loads and evictions; below it, hit rate and expert bytes
// loaded per token per step.
#pragma once

#include <QWidget>
#include <vector>

#include "ui/telemetry.h"

class QCustomPlot;

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

 private:
  std::vector<MemoryPoint> points_;
  QCustomPlot* plot_ = nullptr;
};

}  // namespace emoe::ui
