// Draws the experiment report's figures (report::Plot, core/report/plot.h) with QCustomPlot so
// the Experiment dock shows exactly the plots the HTML and PDF report contain: line and scatter
// series with a legend, or grouped bars over categories; a chooser picks the plot by its id.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>
#include <vector>

#include "core/report/plot.h"

class QComboBox;
class QCustomPlot;
class QCPBarsGroup;
class QLabel;

namespace emoe::ui {

class ExperimentPlotsView : public QWidget {
  Q_OBJECT

 public:
  explicit ExperimentPlotsView(QWidget* parent = nullptr);

  // Replaces the plots; keeps the chosen id when the new set has it.
  void set_plots(std::vector<report::Plot> plots);
  void clear() { set_plots({}); }
  bool show_plot(const QString& id);  // false: no plot with that id

  QStringList plot_ids() const;
  QString current_id() const;
  const std::vector<report::Plot>& plots() const { return plots_; }
  QCustomPlot* plot() const { return plot_; }
  QComboBox* chooser() const { return chooser_; }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  void draw(int index);

  QComboBox* chooser_ = nullptr;
  QLabel* note_ = nullptr;
  QCustomPlot* plot_ = nullptr;
  QCPBarsGroup* group_ = nullptr;  // of the bar chart shown
  std::vector<report::Plot> plots_;
};

}  // namespace emoe::ui
