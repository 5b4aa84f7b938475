// Layer x expert heatmap (QCPColorMap) of expert counts, live for the current request, the
// whole session or one task; tooltips per cell, a residency overlay, pause, zoom and reset,
// per-layer or absolute normalisation.
#pragma once

#include <QString>
#include <QStringList>
#include <QWidget>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ui/telemetry.h"

class QCustomPlot;
class QCPColorMap;
class QCPColorScale;
class QCPGraph;
class QCheckBox;
class QComboBox;
class QMouseEvent;
class QToolButton;

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
  void replot_if_dirty(bool queued = false);  // queued: on the next event-loop pass

  // The counts of a scope, [n_layer * n_expert] (for tests and reports).
  std::vector<int64_t> counts(Scope scope, const QString& task = {}) const;
  QStringList tasks() const;
  QString cell_tooltip(int32_t layer, int32_t expert) const;
  QCustomPlot* plot() const { return plot_; }

 protected:
  void changeEvent(QEvent* event) override;

 private:
  // Exact counts since set_shape/clear (requests: the kMaxRequests most recent ids) and the
  // residency; paused views draw a copy taken when the pause began.
  struct Counts {
    std::vector<int64_t> session;
    std::map<std::string, std::vector<int64_t>> tasks;
    std::map<int64_t, std::vector<int64_t>> requests;
    int64_t current_request = -1;   // -1: none seen yet
    std::vector<uint8_t> resident;  // empty: no overlay
  };
  static constexpr size_t kMaxRequests = 64;

  std::vector<int64_t> scope_counts(const Counts& c, Scope scope, const QString& task) const;
  QString scope_label(const Counts& c) const;  // "session", "task qa", "request 7"
  const Counts& shown() const { return paused_ ? frozen_ : live_; }
  void rebuild_map();
  void rebuild_overlay();
  void refresh_task_combo();
  void sync_toolbar();
  void on_mouse_move(QMouseEvent* event);

  int32_t n_layer_ = 0, n_expert_ = 0;
  Counts live_, frozen_;
  Scope scope_ = Scope::Session;
  QString task_;
  bool per_layer_ = false;
  bool paused_ = false;
  bool dirty_ = true;

  QCustomPlot* plot_ = nullptr;
  QCPColorMap* map_ = nullptr;
  QCPColorScale* scale_ = nullptr;
  QCPGraph* overlay_ = nullptr;      // resident cells as dots
  std::vector<uint8_t> overlay_of_;  // the residency overlay_ shows
  bool overlay_valid_ = false;       // overlay_of_ is what overlay_ holds
  QComboBox* scope_box_ = nullptr;
  QComboBox* task_box_ = nullptr;
  QCheckBox* per_layer_box_ = nullptr;
  QToolButton* pause_button_ = nullptr;
};

}  // namespace emoe::ui
