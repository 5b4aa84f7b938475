#include "ui/prediction_view.h"

#include <qcustomplot.h>

#include <QEvent>
#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>

#include "ui/controls_panel.h"
#include "ui/view_style.h"

namespace emoe::ui {

namespace {
// Requests kept in the precision / recall plot.
constexpr size_t kMaxHistory = 2000;
}  // namespace

PredictionView::PredictionView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  summary_ = new QLabel(tr("No request with a predictor yet (set one in Controls)."), this);
  summary_->setObjectName("predictionSummary");
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(summary_);

  auto* split = new QSplitter(Qt::Vertical, this);
  map_plot_ = new QCustomPlot(split);
  map_plot_->setObjectName("predictionMap");
  map_plot_->xAxis->setLabel(tr("expert"));
  map_plot_->yAxis->setLabel(tr("layer"));
  map_ = new QCPColorMap(map_plot_->xAxis, map_plot_->yAxis);
  map_->setInterpolate(false);
  map_->setTightBoundary(true);
  map_->setDataRange(QCPRange(0, 3));
  map_plot_->setToolTip(
      tr("grey: neither; blue: planned resident but not used; red: used but not "
         "planned (a miss); green: planned and used"));
  split->addWidget(map_plot_);

  history_plot_ = new QCustomPlot(split);
  history_plot_->setObjectName("predictionHistory");
  history_plot_->xAxis->setLabel(tr("request"));
  history_plot_->yAxis->setLabel(tr("score"));
  history_plot_->yAxis->setRange(0, 1.05);
  precision_ = history_plot_->addGraph();
  precision_->setName(tr("precision"));
  recall_ = history_plot_->addGraph();
  recall_->setName(tr("recall"));
  invoked_ = history_plot_->addGraph();
  invoked_->setName(tr("predictor invoked"));
  invoked_->setLineStyle(QCPGraph::lsNone);
  invoked_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssTriangle, 7));
  style::setup_legends(history_plot_, font());
  for (QCPGraph* g : {precision_, recall_, invoked_}) g->addToLegend();
  history_plot_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignBottom | Qt::AlignRight);
  split->addWidget(history_plot_);
  layout->addWidget(split, 1);
  restyle();
}

void PredictionView::restyle() {
  style::apply_plot_theme(map_plot_);
  style::apply_plot_theme(history_plot_);
  const QPalette& pal = palette();
  QCPColorGradient g;
  g.setLevelCount(4);
  g.setColorStopAt(0.0, style::tint(style::muted(pal), 60));
  g.setColorStopAt(1.0 / 3.0, style::series_color(0, pal));
  g.setColorStopAt(2.0 / 3.0, style::bad_color(pal));
  g.setColorStopAt(1.0, style::good_color(pal));
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  map_->setGradient(g);
  precision_->setPen(QPen(style::series_color(0, pal), 2));
  recall_->setPen(QPen(style::series_color(1, pal), 2));
  invoked_->setPen(QPen(style::series_color(2, pal)));
  dirty_ = true;
}

void PredictionView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) restyle();
}

void PredictionView::clear() {
  last_.reset();
  history_.clear();
  map_->data()->clear();
  precision_->data()->clear();
  recall_->data()->clear();
  invoked_->data()->clear();
  summary_->setText(tr("No request with a predictor yet (set one in Controls)."));
  dirty_ = true;
}

void PredictionView::add(const std::vector<PredictionStats>& stats) {
  if (stats.empty()) return;
  for (const PredictionStats& s : stats) {
    const double x = static_cast<double>(s.request_id);
    precision_->addData(x, s.precision);
    recall_->addData(x, s.recall);
    if (s.invoked) invoked_->addData(x, 1.0);
    PredictionStats light = s;
    light.predicted.clear();
    light.actual.clear();
    history_.push_back(std::move(light));
  }
  if (history_.size() > kMaxHistory) {
    const double first = static_cast<double>(history_[history_.size() - kMaxHistory].request_id);
    history_.erase(history_.begin(),
                   history_.begin() + static_cast<std::ptrdiff_t>(history_.size() - kMaxHistory));
    precision_->data()->removeBefore(first);
    recall_->data()->removeBefore(first);
    invoked_->data()->removeBefore(first);
  }
  last_ = stats.back();
  show_last();
  dirty_ = true;
}

void PredictionView::show_last() {
  const PredictionStats& s = *last_;
  const int nx = std::max(s.n_expert, 1), ny = std::max(s.n_layer, 1);
  QCPColorMapData* data = map_->data();
  data->setSize(nx, ny);
  data->setRange(QCPRange(0, nx - 1), QCPRange(0, ny - 1));
  data->fill(Neither);
  for (int32_t l = 0; l < s.n_layer; ++l) {
    const std::vector<int32_t> none;
    const std::vector<int32_t>& planned =
        static_cast<size_t>(l) < s.predicted.size() ? s.predicted[static_cast<size_t>(l)] : none;
    for (int32_t e = 0; e < s.n_expert; ++e) {
      const size_t i =
          static_cast<size_t>(l) * static_cast<size_t>(s.n_expert) + static_cast<size_t>(e);
      const bool used = i < s.actual.size() && s.actual[i] > 0;
      const bool plan = std::find(planned.begin(), planned.end(), e) != planned.end();
      data->setCell(e, l, plan ? (used ? Both : PlannedOnly) : (used ? UsedOnly : Neither));
    }
  }
  map_->setDataRange(QCPRange(0, 3));
  map_plot_->xAxis->setRange(-0.5, nx - 0.5);
  map_plot_->yAxis->setRange(-0.5, ny - 0.5);
  history_plot_->xAxis->rescale();
  const QCPRange xr = history_plot_->xAxis->range();
  history_plot_->xAxis->setRange(xr.lower - 0.5, xr.upper + 0.5);
  summary_->setText(
      tr("<b>Request %1</b> [%2]: predictor %3, p = %4, task-aware %5 — %6 (request %7 of this "
         "configuration, %8 invocation(s)). Precision %9, recall %10; %11 layer(s) changed, %12 "
         "load(s), %13 moved; expert bytes peak %14 of budget %15.")
          .arg(s.request_id)
          .arg(QString::fromStdString(s.task).toHtmlEscaped(), QString::fromStdString(s.predictor))
          .arg(s.interval)
          .arg(s.task_aware ? tr("on") : tr("off"),
               s.invoked ? tr("<b>predictor invoked</b>") : tr("previous prediction reused"))
          .arg(s.config_request)
          .arg(s.invocations)
          .arg(s.precision, 0, 'f', 3)
          .arg(s.recall, 0, 'f', 3)
          .arg(s.changed_layers)
          .arg(s.loads)
          .arg(format_bytes(s.bytes_loaded), format_bytes(s.peak_expert_bytes),
               format_bytes(s.expert_budget_bytes)));
}

int PredictionView::cell(int32_t layer, int32_t expert) const {
  QCPColorMapData* d = map_->data();  // cell() is not const in QCustomPlot
  if (layer < 0 || expert < 0 || expert >= d->keySize() || layer >= d->valueSize()) return -1;
  return static_cast<int>(d->cell(expert, layer));
}

QString PredictionView::summary_text() const { return summary_->text(); }

void PredictionView::replot_if_dirty() {
  if (!dirty_ || !isVisible()) return;
  dirty_ = false;
  map_plot_->replot(QCustomPlot::rpQueuedReplot);
  history_plot_->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace emoe::ui
