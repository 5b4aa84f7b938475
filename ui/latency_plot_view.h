// Per-request time to first token and end-to-end latency against each request's SLO, tokens/s
// over time, and SLO attainment as a number.
#pragma once

#include <QWidget>
#include <vector>

#include "ui/telemetry.h"

class QCustomPlot;
class QLabel;

namespace emoe::ui {

class LatencyPlotView : public QWidget {
  Q_OBJECT

 public:
  explicit LatencyPlotView(QWidget* parent = nullptr);

  void add_requests(const std::vector<RequestStats>& requests);
  void add_steps(const std::vector<StepStats>& steps);
  void clear();
  void replot_if_dirty();

  // Fraction of requests with an SLO that met every SLO they have; -1 when none has one.
  double slo_attainment() const;
  const std::vector<RequestStats>& requests() const { return requests_; }
  QCustomPlot* plot() const { return plot_; }

 private:
  std::vector<RequestStats> requests_;
  QCustomPlot* plot_ = nullptr;
};

}  // namespace emoe::ui
