#include "ui/experiment_plots_view.h"

#include <qcustomplot.h>

#include <QComboBox>
#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "ui/view_style.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

ExperimentPlotsView::ExperimentPlotsView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("Plot:"), this));
  chooser_ = new QComboBox(this);
  chooser_->setObjectName("experimentPlotChooser");
  chooser_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  row->addWidget(chooser_);
  note_ = new QLabel(this);
  note_->setObjectName("experimentPlotNote");
  row->addWidget(note_, 1);
  layout->addLayout(row);
  plot_ = new QCustomPlot(this);
  plot_->setObjectName("experimentPlot");
  plot_->setMinimumHeight(160);
  layout->addWidget(plot_, 1);
  connect(chooser_, &QComboBox::currentIndexChanged, this, &ExperimentPlotsView::draw);
  draw(-1);
}

void ExperimentPlotsView::set_plots(std::vector<report::Plot> plots) {
  const QString keep = current_id();
  plots_ = std::move(plots);
  const QSignalBlocker block(chooser_);
  chooser_->clear();
  for (const report::Plot& p : plots_) chooser_->addItem(qs(p.title), qs(p.id));
  const int i = std::max(0, chooser_->findData(keep));
  chooser_->setCurrentIndex(plots_.empty() ? -1 : i);
  draw(chooser_->currentIndex());
}

bool ExperimentPlotsView::show_plot(const QString& id) {
  const int i = chooser_->findData(id);
  if (i < 0) return false;
  chooser_->setCurrentIndex(i);  // draws through currentIndexChanged
  if (chooser_->currentIndex() == i) draw(i);
  return true;
}

QStringList ExperimentPlotsView::plot_ids() const {
  QStringList ids;
  for (const report::Plot& p : plots_) ids << qs(p.id);
  return ids;
}

QString ExperimentPlotsView::current_id() const { return chooser_->currentData().toString(); }

void ExperimentPlotsView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange) draw(chooser_->currentIndex());
}

void ExperimentPlotsView::draw(int index) {
  plot_->clearPlottables();  // bars leave their group first, so the group can go
  plot_->clearItems();
  delete group_;
  group_ = nullptr;
  plot_->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  const QPalette& pal = palette();
  if (index < 0 || index >= static_cast<int>(plots_.size())) {
    plot_->xAxis->setLabel({});
    plot_->yAxis->setLabel({});
    plot_->legend->setVisible(false);
    note_->setText(plots_.empty() ? tr("Select points to compare, or run an experiment.")
                                  : QString());
    style::apply_plot_theme(plot_);
    plot_->replot(QCustomPlot::rpQueuedReplot);
    return;
  }
  const report::Plot& pl = plots_[static_cast<size_t>(index)];
  plot_->xAxis->setLabel(qs(pl.x_label));
  plot_->yAxis->setLabel(qs(pl.y_label));
  style::setup_legends(plot_, font());
  note_->setText(tr("%1 series").arg(pl.series.size()));
  if (pl.bars()) {
    // Grouped bars: one QCPBars per series, categories as text ticks at 1..n.
    auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
    for (size_t c = 0; c < pl.categories.size(); ++c) {
      ticker->addTick(static_cast<double>(c + 1), qs(pl.categories[c]));
    }
    plot_->xAxis->setTicker(ticker);
    group_ = new QCPBarsGroup(plot_);
    const double width = 0.8 / std::max<size_t>(pl.series.size(), 1);
    double top = 0;
    for (size_t s = 0; s < pl.series.size(); ++s) {
      const report::Series& ser = pl.series[s];
      auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
      bars->setName(qs(ser.name));
      bars->setWidth(width);
      bars->setBarsGroup(group_);
      const QColor c = style::series_color(static_cast<int>(s), pal);
      bars->setPen(QPen(c.darker(120)));
      bars->setBrush(c);
      for (size_t c2 = 0; c2 < std::min(ser.y.size(), pl.categories.size()); ++c2) {
        bars->addData(static_cast<double>(c2 + 1), ser.y[c2]);
        top = std::max(top, ser.y[c2]);
      }
    }
    plot_->xAxis->setRange(0.4, pl.categories.size() + 0.6);
    plot_->yAxis->setRange(0, top > 0 ? top * 1.1 : 1);
  } else {
    for (size_t s = 0; s < pl.series.size(); ++s) {
      const report::Series& ser = pl.series[s];
      QCPGraph* g = plot_->addGraph();
      g->setName(qs(ser.name));
      const QColor c = style::series_color(static_cast<int>(s), pal);
      g->setPen(QPen(c, 2));
      g->setLineStyle(ser.lines ? QCPGraph::lsLine : QCPGraph::lsNone);
      g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, c, c, 6));
      const size_t n = std::min(ser.x.size(), ser.y.size());
      QVector<double> x(static_cast<qsizetype>(n)), y(static_cast<qsizetype>(n));
      for (size_t i = 0; i < n; ++i) {
        x[static_cast<qsizetype>(i)] = ser.x[i];
        y[static_cast<qsizetype>(i)] = ser.y[i];
      }
      g->setData(x, y);
    }
    plot_->rescaleAxes();
    // A single x (one rate, one point) would give an empty range; pad every axis a little.
    for (QCPAxis* a : {plot_->xAxis, plot_->yAxis}) {
      const QCPRange r = a->range();
      const double pad = r.size() > 0 ? r.size() * 0.06 : std::max(std::abs(r.center()) * 0.1, 1.0);
      a->setRange(r.lower - pad, r.upper + pad);
    }
  }
  for (int i = 0; i < plot_->plottableCount(); ++i) plot_->plottable(i)->addToLegend();
  plot_->legend->setVisible(plot_->plottableCount() > 0);
  style::apply_plot_theme(plot_);
  plot_->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace emoe::ui
