#include "ui/expert_heatmap_view.h"

#include <qcustomplot.h>

#include <QCheckBox>
#include <QComboBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QMouseEvent>
#include <QPushButton>
#include <QSignalBlocker>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "ui/view_style.h"

namespace emoe::ui {
namespace {

// Perceptually uniform and readable on light and dark backgrounds (viridis control points).
QCPColorGradient viridis() {
  QCPColorGradient g;
  g.clearColorStops();
  g.setColorStopAt(0.00, QColor(68, 1, 84));
  g.setColorStopAt(0.25, QColor(59, 82, 139));
  g.setColorStopAt(0.50, QColor(33, 145, 140));
  g.setColorStopAt(0.75, QColor(94, 201, 98));
  g.setColorStopAt(1.00, QColor(253, 231, 37));
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  return g;
}

void add_into(std::vector<int64_t>& dst, const std::vector<int64_t>& src) {
  if (dst.size() != src.size()) dst.assign(src.size(), 0);
  for (size_t i = 0; i < src.size(); ++i) dst[i] += src[i];
}

QString scope_name(ExpertHeatmapView::Scope scope) {
  switch (scope) {
    case ExpertHeatmapView::Scope::Request:
      return QStringLiteral("request");
    case ExpertHeatmapView::Scope::Session:
      return QStringLiteral("session");
    case ExpertHeatmapView::Scope::Task:
      return QStringLiteral("task");
  }
  return {};
}

}  // namespace

ExpertHeatmapView::ExpertHeatmapView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);

  auto* bar = new QHBoxLayout;
  bar->setContentsMargins(4, 2, 4, 0);
  bar->addWidget(new QLabel(tr("Scope:"), this));
  scope_box_ = new QComboBox(this);
  scope_box_->setObjectName(QStringLiteral("scope"));
  scope_box_->addItems({tr("Request"), tr("Session"), tr("Task")});
  bar->addWidget(scope_box_);
  task_box_ = new QComboBox(this);
  task_box_->setObjectName(QStringLiteral("task"));
  task_box_->setMinimumContentsLength(10);
  bar->addWidget(task_box_);
  per_layer_box_ = new QCheckBox(tr("Normalise per layer"), this);
  per_layer_box_->setObjectName(QStringLiteral("normalise"));
  bar->addWidget(per_layer_box_);
  bar->addStretch(1);
  pause_button_ = new QToolButton(this);
  pause_button_->setObjectName(QStringLiteral("pause"));
  pause_button_->setText(tr("Pause"));
  pause_button_->setCheckable(true);
  bar->addWidget(pause_button_);
  auto* reset = new QToolButton(this);
  reset->setObjectName(QStringLiteral("reset_zoom"));
  reset->setText(tr("Reset zoom"));
  bar->addWidget(reset);
  layout->addLayout(bar);

  plot_ = new QCustomPlot(this);
  plot_->setMinimumSize(200, 150);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->setMouseTracking(true);
  layout->addWidget(plot_, 1);

  QCPAxisRect* rect = plot_->axisRect();
  plot_->xAxis->setLabel(tr("expert"));
  plot_->yAxis->setLabel(tr("layer"));
  for (QCPAxis* axis : {plot_->xAxis, plot_->yAxis}) {
    QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    axis->setTicker(ticker);
    axis->grid()->setVisible(false);
  }
  map_ = new QCPColorMap(plot_->xAxis, plot_->yAxis);
  map_->setInterpolate(false);
  map_->setTightBoundary(false);
  scale_ = new QCPColorScale(plot_);
  plot_->plotLayout()->addElement(0, 1, scale_);
  scale_->setType(QCPAxis::atRight);
  map_->setColorScale(scale_);
  map_->setGradient(viridis());
  auto* margins = new QCPMarginGroup(plot_);
  rect->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);

  overlay_ = plot_->addGraph(plot_->xAxis, plot_->yAxis);
  overlay_->setName(tr("resident"));
  overlay_->setLineStyle(QCPGraph::lsNone);
  // A white dot with a black rim stays visible on every colour of the gradient.
  overlay_->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssDisc, QPen(Qt::black, 1), QBrush(Qt::white), 6));
  overlay_->setVisible(false);

  connect(scope_box_, &QComboBox::currentIndexChanged, this, [this](int index) {
    set_scope(static_cast<Scope>(index), task_box_->currentData().toString());
  });
  connect(task_box_, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index < 0) return;
    task_ = task_box_->itemData(index).toString();
    dirty_ = true;
  });
  connect(per_layer_box_, &QCheckBox::toggled, this, &ExpertHeatmapView::set_normalise_per_layer);
  connect(pause_button_, &QToolButton::toggled, this, &ExpertHeatmapView::set_paused);
  connect(reset, &QToolButton::clicked, this, &ExpertHeatmapView::reset_zoom);
  connect(plot_, &QCustomPlot::mouseMove, this, &ExpertHeatmapView::on_mouse_move);
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) { reset_zoom(); });

  style::apply_plot_theme(plot_);
  sync_toolbar();
  set_shape(0, 0);
}

void ExpertHeatmapView::set_shape(int32_t n_layer, int32_t n_expert) {
  n_layer_ = std::max<int32_t>(0, n_layer);
  n_expert_ = std::max<int32_t>(0, n_expert);
  live_ = Counts{};
  frozen_ = Counts{};
  live_.session.assign(static_cast<size_t>(n_layer_) * n_expert_, 0);
  frozen_ = live_;
  map_->data()->setSize(std::max(1, n_expert_), std::max(1, n_layer_));
  map_->data()->setRange(QCPRange(0, std::max(0, n_expert_ - 1)),
                         QCPRange(0, std::max(0, n_layer_ - 1)));
  map_->data()->fill(0);
  overlay_valid_ = false;
  refresh_task_combo();
  reset_zoom();
  dirty_ = true;
}

void ExpertHeatmapView::clear() { set_shape(n_layer_, n_expert_); }

void ExpertHeatmapView::add_counts(const std::vector<CountDelta>& deltas) {
  const size_t cells = static_cast<size_t>(n_layer_) * n_expert_;
  bool new_task = false;
  for (const CountDelta& d : deltas) {
    if (cells == 0 || d.used.size() != cells) continue;  // another model's shape
    add_into(live_.session, d.used);
    auto [it, inserted] = live_.tasks.try_emplace(d.task, std::vector<int64_t>(cells, 0));
    new_task = new_task || inserted;
    add_into(it->second, d.used);
    auto& req = live_.requests[d.request_id];
    add_into(req, d.used);
    live_.current_request = d.request_id;
    while (live_.requests.size() > kMaxRequests) {
      auto oldest = live_.requests.begin();
      if (oldest->first == live_.current_request) ++oldest;
      live_.requests.erase(oldest);
    }
    if (!paused_) dirty_ = true;
  }
  if (new_task) refresh_task_combo();
}

void ExpertHeatmapView::set_residency(std::vector<uint8_t> resident) {
  const size_t cells = static_cast<size_t>(n_layer_) * n_expert_;
  if (!resident.empty() && resident.size() != cells) resident.clear();
  if (resident == live_.resident) return;
  live_.resident = std::move(resident);
  if (!paused_) dirty_ = true;
}

void ExpertHeatmapView::set_scope(Scope scope, const QString& task) {
  scope_ = scope;
  if (!task.isEmpty()) task_ = task;
  if (scope_ == Scope::Task && task_.isEmpty() && !live_.tasks.empty()) {
    task_ = QString::fromStdString(live_.tasks.begin()->first);
  }
  sync_toolbar();
  dirty_ = true;
}

void ExpertHeatmapView::set_normalise_per_layer(bool on) {
  per_layer_ = on;
  sync_toolbar();
  dirty_ = true;
}

void ExpertHeatmapView::set_paused(bool on) {
  if (on && !paused_) frozen_ = live_;
  paused_ = on;
  sync_toolbar();
  dirty_ = true;
}

void ExpertHeatmapView::reset_zoom() {
  plot_->xAxis->setRange(-0.5, std::max(1, n_expert_) - 0.5);
  plot_->yAxis->setRange(-0.5, std::max(1, n_layer_) - 0.5);
  dirty_ = true;
}

void ExpertHeatmapView::replot_if_dirty(bool queued) {
  if (!dirty_) return;
  dirty_ = false;
  rebuild_map();
  rebuild_overlay();
  plot_->replot(queued ? QCustomPlot::rpQueuedReplot : QCustomPlot::rpRefreshHint);
}

std::vector<int64_t> ExpertHeatmapView::scope_counts(const Counts& c, Scope scope,
                                                     const QString& task) const {
  const size_t cells = static_cast<size_t>(n_layer_) * n_expert_;
  const std::vector<int64_t>* src = nullptr;
  switch (scope) {
    case Scope::Session:
      src = &c.session;
      break;
    case Scope::Request: {
      auto it = c.requests.find(c.current_request);
      if (it != c.requests.end()) src = &it->second;
      break;
    }
    case Scope::Task: {
      auto it = c.tasks.find((task.isEmpty() ? task_ : task).toStdString());
      if (it != c.tasks.end()) src = &it->second;
      break;
    }
  }
  if (src == nullptr || src->size() != cells) return std::vector<int64_t>(cells, 0);
  return *src;
}

QString ExpertHeatmapView::scope_label(const Counts& c) const {
  QString s = scope_name(scope_);
  if (scope_ == Scope::Task) s += QStringLiteral(" ") + (task_.isEmpty() ? tr("(none)") : task_);
  if (scope_ == Scope::Request && c.current_request >= 0) {
    s += QStringLiteral(" %1").arg(c.current_request);
  }
  return s;
}

std::vector<int64_t> ExpertHeatmapView::counts(Scope scope, const QString& task) const {
  return scope_counts(live_, scope, task);
}

QStringList ExpertHeatmapView::tasks() const {
  QStringList out;
  for (const auto& [name, counts] : live_.tasks) out << QString::fromStdString(name);
  return out;
}

QString ExpertHeatmapView::cell_tooltip(int32_t layer, int32_t expert) const {
  if (layer < 0 || layer >= n_layer_ || expert < 0 || expert >= n_expert_) return {};
  const Counts& c = shown();
  const std::vector<int64_t> counts = scope_counts(c, scope_, task_);
  const size_t row = static_cast<size_t>(layer) * n_expert_;
  int64_t layer_sum = 0;
  for (int32_t e = 0; e < n_expert_; ++e) layer_sum += counts[row + e];
  const int64_t count = counts[row + expert];
  const QString scope = scope_label(c);
  QString text = tr("layer %1, expert %2").arg(layer).arg(expert);
  text += QStringLiteral("\n") + tr("count: %1 (%2)").arg(count).arg(scope);
  const QString share =
      layer_sum > 0 ? QString::number(100.0 * static_cast<double>(count) / layer_sum, 'f', 1) +
                          QStringLiteral("%")
                    : QStringLiteral("-");
  text += QStringLiteral("\n") + tr("share of the layer: %1").arg(share);
  if (!c.resident.empty()) {
    text += QStringLiteral("\n") +
            (c.resident[row + expert] ? tr("resident: yes") : tr("resident: no"));
  }
  return text;
}

void ExpertHeatmapView::rebuild_map() {
  // Only cells whose value changed are written, and the range and label only when they
  // change: QCustomPlot redraws its cached map image and relays out the scale only then.
  const std::vector<int64_t> counts = scope_counts(shown(), scope_, task_);
  QCPColorMapData* data = map_->data();
  double max_value = 0;
  for (int32_t l = 0; l < n_layer_; ++l) {
    const size_t row = static_cast<size_t>(l) * n_expert_;
    int64_t sum = 0;
    for (int32_t e = 0; e < n_expert_; ++e) sum += counts[row + e];
    for (int32_t e = 0; e < n_expert_; ++e) {
      const int64_t n = counts[row + e];
      const double v = per_layer_
                           ? (sum > 0 ? static_cast<double>(n) / static_cast<double>(sum) : 0.0)
                           : static_cast<double>(n);
      if (data->cell(e, l) != v) data->setCell(e, l, v);
      max_value = std::max(max_value, v);
    }
  }
  const QCPRange range(0, max_value > 0 ? max_value : 1);
  if (map_->dataRange() != range) map_->setDataRange(range);
  QString label = per_layer_ ? tr("share of layer") : tr("tokens routed");
  label += QStringLiteral(" (") + scope_label(shown());
  if (paused_) label += QStringLiteral(", ") + tr("paused");
  label += QStringLiteral(")");
  if (scale_->axis()->label() != label) scale_->axis()->setLabel(label);
}

void ExpertHeatmapView::rebuild_overlay() {
  const std::vector<uint8_t>& resident = shown().resident;
  if (overlay_valid_ && resident == overlay_of_) return;
  overlay_of_ = resident;
  overlay_valid_ = true;
  QVector<double> keys, values;
  for (int32_t l = 0; l < n_layer_ && !resident.empty(); ++l) {
    for (int32_t e = 0; e < n_expert_; ++e) {
      if (resident[static_cast<size_t>(l) * n_expert_ + e]) {
        keys << e;
        values << l;
      }
    }
  }
  overlay_->setData(keys, values);
  overlay_->setVisible(!resident.empty());
}

void ExpertHeatmapView::refresh_task_combo() {
  const QSignalBlocker block(task_box_);
  task_box_->clear();
  for (const auto& [name, counts] : live_.tasks) {
    const QString task = QString::fromStdString(name);
    task_box_->addItem(task.isEmpty() ? tr("(untagged)") : task, task);
  }
  if (task_.isEmpty() && !live_.tasks.empty()) {
    task_ = QString::fromStdString(live_.tasks.begin()->first);
  }
  sync_toolbar();
}

void ExpertHeatmapView::sync_toolbar() {
  const QSignalBlocker b1(scope_box_), b2(task_box_), b3(per_layer_box_), b4(pause_button_);
  scope_box_->setCurrentIndex(static_cast<int>(scope_));
  task_box_->setEnabled(scope_ == Scope::Task);
  const int index = task_box_->findData(task_);
  if (index >= 0) task_box_->setCurrentIndex(index);
  per_layer_box_->setChecked(per_layer_);
  pause_button_->setChecked(paused_);
  pause_button_->setText(paused_ ? tr("Resume") : tr("Pause"));
}

void ExpertHeatmapView::on_mouse_move(QMouseEvent* event) {
  const QPointF pos = event->position();
  if (!plot_->axisRect()->rect().contains(pos.toPoint())) {
    QToolTip::hideText();
    return;
  }
  const int expert = static_cast<int>(std::lround(plot_->xAxis->pixelToCoord(pos.x())));
  const int layer = static_cast<int>(std::lround(plot_->yAxis->pixelToCoord(pos.y())));
  const QString text = cell_tooltip(layer, expert);
  if (text.isEmpty()) {
    QToolTip::hideText();
  } else {
    QToolTip::showText(event->globalPosition().toPoint(), text, plot_);
  }
}

void ExpertHeatmapView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange) {
    style::apply_plot_theme(plot_);
    dirty_ = true;
  }
}

}  // namespace emoe::ui
