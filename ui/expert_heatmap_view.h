// Layer x expert heatmap (QCPColorMap) of expert counts, live for the current request, the
// whole session or one task; tooltips per cell, a residency overlay, pause, zoom and reset,
// per-layer or absolute normalisation.
#pragma once

#include <QString>
#include <QWidget>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ui/telemetry.h"

class QCustomPlot;
class QCPColorMap;

namespace emoe::ui {

class ExpertHeatmapView : public QWidget {
  Q_OBJECT

 public:
  enum class Scope { Request, Session, Task };

  explicit ExpertHeatmapView(QWidget* parent = nullptr);

  void set_shape(int32_t n_layer, int32_t n_expert);  // clears all counts
  void clear();
  // Accumulates counts of experts actually used (CountDelta::used). The current request is the
  // most recent request id seen.
  void add_counts(const std::vector<CountDelta>& deltas);
  // [n_layer * n_expert], 1 where the expert is resident in the device tier; empty: no overlay.
  void set_residency(std::vector<uint8_t> resident);

  void set_scope(Scope scope, const QString& task = {});
  void set_normalise_per_layer(bool on);
  void set_paused(bool on);  // counts keep accumulating; the picture stops changing
  void reset_zoom();

  // Redraws when something changed since the last call (the GUI calls it once per tick).
  void replot_if_dirty();

  // The counts of a scope, [n_layer * n_expert] (for tests and reports).
  std::vector<int64_t> counts(Scope scope, const QString& task = {}) const;
  QStringList tasks() const;
  QString cell_tooltip(int32_t layer, int32_t expert) const;
  QCustomPlot* plot() const { return plot_; }

 private:
  // ... implementation-defined members
  QCustomPlot* plot_ = nullptr;
};

}  // namespace emoe::ui
