// Per-request time to first token and end-to-end latency against each request's SLO, tokens/s
// over time, and SLO attainment as a number.
#pragma once

#include <QWidget>
#include <vector>

#include "ui/telemetry.h"

class QCustomPlot;
class QCPBars;
class QCPGraph;
class QLabel;

namespace emoe::ui {

class LatencyPlotView : public QWidget {
  Q_OBJECT

 public:
  explicit LatencyPlotView(QWidget* parent = nullptr);

  void add_requests(const std::vector<RequestStats>& requests);
  void add_steps(const std::vector<StepStats>& steps);
  void clear();
  void replot_if_dirty(bool queued = false);  // queued: on the next event-loop pass

  // Fraction of requests with an SLO that met every SLO they have; -1 when none has one.
  double slo_attainment() const;
  const std::vector<RequestStats>& requests() const { return requests_; }
  QCustomPlot* plot() const { return plot_; }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  // The graphs keep their data and get only what arrives (the oldest steps are dropped in
  // chunks past kMaxSteps); adaptive sampling keeps a replot's cost independent of history.
  static constexpr int kMaxSteps = 20000;
  static constexpr double kSmoothing = 0.2;  // weight of the newest step in the moving average

  void update_ranges();
  void apply_colors();
  void update_label();

  std::vector<RequestStats> requests_;
  double request_y_max_ = 0;  // the largest latency or SLO of requests_ (ms)
  bool have_rate_ = false;    // ema_ holds a value
  double ema_ = 0;            // smoothed decode tokens/s after the newest step
  bool dirty_ = true;
  bool follow_ = true;  // ranges track the data until the user zooms or drags
  QCustomPlot* plot_ = nullptr;
  QLabel* label_ = nullptr;
  QCPBars* ttft_ = nullptr;
  QCPBars* e2e_ = nullptr;
  QCPGraph* slo_met_ = nullptr;     // a short horizontal mark at each SLO that was met
  QCPGraph* slo_missed_ = nullptr;  // and at each one that was missed
  QCPGraph* tps_raw_ = nullptr;
  QCPGraph* tps_smooth_ = nullptr;
};

}  // namespace emoe::ui
