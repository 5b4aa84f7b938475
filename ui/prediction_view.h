// The Prediction dock: for the latest request run with a predictor, a layer x expert map of the
// experts eMoE planned resident against the experts the router actually chose (neither,
// planned only, used only, both), and precision and recall of the plan per request over time
// with the predictor's invocation count (PredictionStats, ui/telemetry.h).
#pragma once

#include <QWidget>
#include <cstdint>
#include <optional>
#include <vector>

#include "ui/telemetry.h"

class QCustomPlot;
class QCPColorMap;
class QCPGraph;
class QLabel;

namespace emoe::ui {

class PredictionView : public QWidget {
  Q_OBJECT

 public:
  // Cell states of the map.
  enum Cell : int { Neither = 0, PlannedOnly = 1, UsedOnly = 2, Both = 3 };

  explicit PredictionView(QWidget* parent = nullptr);

  void add(const std::vector<PredictionStats>& stats);
  void clear();
  void replot_if_dirty();

  const std::optional<PredictionStats>& last() const { return last_; }
  const std::vector<PredictionStats>& history() const { return history_; }  // light copies
  // What the map shows for a cell (read back from the colour map's data); -1 out of range.
  int cell(int32_t layer, int32_t expert) const;
  QString summary_text() const;
  QCustomPlot* map_plot() const { return map_plot_; }
  QCustomPlot* history_plot() const { return history_plot_; }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void show_last();
  void restyle();

  QLabel* summary_ = nullptr;
  QCustomPlot* map_plot_ = nullptr;
  QCPColorMap* map_ = nullptr;
  QCustomPlot* history_plot_ = nullptr;
  QCPGraph* precision_ = nullptr;
  QCPGraph* recall_ = nullptr;
  QCPGraph* invoked_ = nullptr;  // markers on the requests that ran the predictor
  std::optional<PredictionStats> last_;
  std::vector<PredictionStats> history_;  // without the per-expert vectors
  bool dirty_ = false;
};

}  // namespace emoe::ui
