#include "ui/latency_plot_view.h"

#include <qcustomplot.h>

#include <QEvent>
#include <QLabel>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>

#include "ui/view_style.h"

namespace emoe::ui {
namespace {

constexpr double kBarOffset = 0.2;  // TTFT left of the request index, E2E right of it
constexpr double kBarWidth = 0.38;

bool met_slos(const RequestStats& r) {
  if (!r.error.empty()) return false;  // a failed request met nothing
  if (r.slo_ttft_ms && r.ttft_ms > *r.slo_ttft_ms) return false;
  if (r.slo_e2e_ms && r.e2e_ms > *r.slo_e2e_ms) return false;
  return true;
}

struct SloCount {
  int64_t with_slo = 0, met = 0;
};

SloCount count_slos(const std::vector<RequestStats>& requests) {
  SloCount c;
  for (const RequestStats& r : requests) {
    if (!r.slo_ttft_ms && !r.slo_e2e_ms) continue;
    ++c.with_slo;
    if (met_slos(r)) ++c.met;
  }
  return c;
}

// A horizontal dash for ssCustom (QCPScatterStyle scales the path by size / 6).
QCPScatterStyle dash_style(const QColor& color) {
  QPainterPath path;
  path.moveTo(-3, 0);
  path.lineTo(3, 0);
  QPen pen(color, 3);
  pen.setCosmetic(true);
  QCPScatterStyle style(path, pen, Qt::NoBrush, 16);
  return style;
}

}  // namespace

LatencyPlotView::LatencyPlotView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);
  label_ = new QLabel(this);
  label_->setObjectName(QStringLiteral("slo_attainment"));
  label_->setContentsMargins(6, 2, 6, 0);
  layout->addWidget(label_);
  plot_ = new QCustomPlot(this);
  plot_->setMinimumSize(200, 200);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  layout->addWidget(plot_, 1);

  QCPAxisRect* top = plot_->axisRect();
  auto* bottom = new QCPAxisRect(plot_);
  plot_->plotLayout()->addElement(1, 0, bottom);
  plot_->plotLayout()->setRowSpacing(4);
  auto* margins = new QCPMarginGroup(plot_);
  top->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  bottom->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  for (QCPAxisRect* rect : {top, bottom}) {
    rect->setRangeDragAxes(rect->axis(QCPAxis::atBottom), nullptr);
    rect->setRangeZoomAxes(rect->axis(QCPAxis::atBottom), nullptr);
  }

  QCPAxis* rx = top->axis(QCPAxis::atBottom);
  QCPAxis* ry = top->axis(QCPAxis::atLeft);
  rx->setLabel(tr("request"));
  ry->setLabel(tr("latency (ms)"));
  QSharedPointer<QCPAxisTickerFixed> ticker(new QCPAxisTickerFixed);
  ticker->setTickStep(1.0);
  ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
  rx->setTicker(ticker);
  ttft_ = new QCPBars(rx, ry);
  ttft_->setName(tr("time to first token"));
  ttft_->setWidth(kBarWidth);
  e2e_ = new QCPBars(rx, ry);
  e2e_->setName(tr("end to end"));
  e2e_->setWidth(kBarWidth);
  slo_met_ = plot_->addGraph(rx, ry);
  slo_met_->setName(tr("SLO met"));
  slo_met_->setLineStyle(QCPGraph::lsNone);
  slo_missed_ = plot_->addGraph(rx, ry);
  slo_missed_->setName(tr("SLO missed"));
  slo_missed_->setLineStyle(QCPGraph::lsNone);

  QCPAxis* tx = bottom->axis(QCPAxis::atBottom);
  QCPAxis* ty = bottom->axis(QCPAxis::atLeft);
  tx->setLabel(tr("time (s)"));
  ty->setLabel(tr("decode tokens/s"));
  tps_raw_ = plot_->addGraph(tx, ty);
  tps_raw_->setName(tr("per step"));
  // Per-step series are thin lines without markers or antialiasing: thousands of points.
  plot_->setPlottingHint(QCP::phFastPolylines, true);
  tps_smooth_ = plot_->addGraph(tx, ty);
  tps_smooth_->setName(tr("smoothed"));
  for (QCPGraph* g : {tps_raw_, tps_smooth_}) {
    g->setAdaptiveSampling(true);
    g->setAntialiased(false);
  }
  QCPLegend* bottom_legend = style::setup_legends(plot_, font(), bottom);
  ttft_->addToLegend();
  e2e_->addToLegend();
  slo_met_->addToLegend();
  slo_missed_->addToLegend();
  tps_raw_->addToLegend(bottom_legend);
  tps_smooth_->addToLegend(bottom_legend);

  connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent*) { follow_ = false; });
  connect(plot_, &QCustomPlot::mouseWheel, this, [this](QWheelEvent*) { follow_ = false; });
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) {
    follow_ = true;
    dirty_ = true;
    replot_if_dirty();
  });
  apply_colors();
  update_label();
}

void LatencyPlotView::add_requests(const std::vector<RequestStats>& requests) {
  if (requests.empty()) return;
  QVector<double> tk, tv, ek, ev, mk, mv, xk, xv;
  for (const RequestStats& r : requests) {
    requests_.push_back(r);
    const double x = static_cast<double>(requests_.size());  // 1-based request index
    tk << x - kBarOffset;
    tv << r.ttft_ms;
    ek << x + kBarOffset;
    ev << r.e2e_ms;
    request_y_max_ = std::max({request_y_max_, r.ttft_ms, r.e2e_ms});
    const bool failed = !r.error.empty();
    if (r.slo_ttft_ms) {
      const bool ok = !failed && r.ttft_ms <= *r.slo_ttft_ms;
      (ok ? mk : xk) << x - kBarOffset;
      (ok ? mv : xv) << *r.slo_ttft_ms;
      request_y_max_ = std::max(request_y_max_, *r.slo_ttft_ms);
    }
    if (r.slo_e2e_ms) {
      const bool ok = !failed && r.e2e_ms <= *r.slo_e2e_ms;
      (ok ? mk : xk) << x + kBarOffset;
      (ok ? mv : xv) << *r.slo_e2e_ms;
      request_y_max_ = std::max(request_y_max_, *r.slo_e2e_ms);
    }
  }
  ttft_->addData(tk, tv, true);
  e2e_->addData(ek, ev, true);
  if (!mk.isEmpty()) slo_met_->addData(mk, mv, true);
  if (!xk.isEmpty()) slo_missed_->addData(xk, xv, true);
  update_label();
  dirty_ = true;
}

void LatencyPlotView::add_steps(const std::vector<StepStats>& steps) {
  QVector<double> st, sr, ss;
  for (const StepStats& s : steps) {
    if (s.phase != engine::Phase::Decode || s.n_tokens <= 0 || !(s.seconds > 0)) continue;
    const double rate = s.n_tokens / s.seconds;
    ema_ = have_rate_ ? kSmoothing * rate + (1 - kSmoothing) * ema_ : rate;
    have_rate_ = true;
    st << s.time_s;
    sr << rate;
    ss << ema_;
  }
  if (st.isEmpty()) return;
  for (QCPGraph* g : {tps_raw_, tps_smooth_}) {
    g->addData(st, g == tps_raw_ ? sr : ss, std::is_sorted(st.begin(), st.end()));
    QSharedPointer<QCPGraphDataContainer> d = g->data();
    if (d->size() > kMaxSteps + kMaxSteps / 4) d->removeBefore(d->at(d->size() - kMaxSteps)->key);
  }
  dirty_ = true;
}

void LatencyPlotView::clear() {
  requests_.clear();
  request_y_max_ = 0;
  have_rate_ = false;
  ema_ = 0;
  ttft_->data()->clear();
  e2e_->data()->clear();
  for (QCPGraph* g : {slo_met_, slo_missed_, tps_raw_, tps_smooth_}) g->data()->clear();
  follow_ = true;
  dirty_ = true;
  update_label();
}

double LatencyPlotView::slo_attainment() const {
  const SloCount c = count_slos(requests_);
  return c.with_slo == 0 ? -1.0 : static_cast<double>(c.met) / static_cast<double>(c.with_slo);
}

void LatencyPlotView::update_label() {
  const SloCount c = count_slos(requests_);
  if (c.with_slo == 0) {
    label_->setText(tr("no SLOs set"));
    return;
  }
  const long long percent = std::llround(100.0 * static_cast<double>(c.met) / c.with_slo);
  label_->setText(tr("SLO attainment: %1% (%2/%3)").arg(percent).arg(c.met).arg(c.with_slo));
}

void LatencyPlotView::replot_if_dirty(bool queued) {
  if (!dirty_) return;
  dirty_ = false;
  if (follow_) update_ranges();
  plot_->replot(queued ? QCustomPlot::rpQueuedReplot : QCustomPlot::rpRefreshHint);
}

void LatencyPlotView::update_ranges() {
  QCPAxisRect* top = plot_->axisRect(0);
  QCPAxisRect* bottom = plot_->axisRect(1);
  const int n = static_cast<int>(requests_.size());
  top->axis(QCPAxis::atBottom)->setRange(0.4, std::max(1, n) + 0.6);
  top->axis(QCPAxis::atLeft)->setRange(0, request_y_max_ > 0 ? request_y_max_ * 1.1 : 1);
  if (!tps_raw_->data()->isEmpty()) {
    const double t0 = tps_raw_->data()->constBegin()->key;
    const double t1 = (tps_raw_->data()->constEnd() - 1)->key;
    bottom->axis(QCPAxis::atBottom)->setRange(t0, t1 > t0 ? t1 : t0 + 1);
  }
  bool found = false;
  const QCPRange rates = tps_raw_->getValueRange(found);  // O(steps), once per dirty replot
  const double tps_max = found ? rates.upper : 0.0;
  bottom->axis(QCPAxis::atLeft)->setRange(0, tps_max > 0 ? tps_max * 1.1 : 1);
}

void LatencyPlotView::apply_colors() {
  const QPalette pal = plot_->palette();
  style::apply_plot_theme(plot_);
  const QColor c0 = style::series_color(0, pal), c1 = style::series_color(4, pal);
  ttft_->setPen(QPen(c0.darker(120)));
  ttft_->setBrush(style::tint(c0, 200));
  e2e_->setPen(QPen(c1.darker(120)));
  e2e_->setBrush(style::tint(c1, 200));
  slo_met_->setPen(QPen(style::good_color(pal)));
  slo_met_->setScatterStyle(dash_style(style::good_color(pal)));
  slo_missed_->setPen(QPen(style::bad_color(pal)));
  slo_missed_->setScatterStyle(dash_style(style::bad_color(pal)));
  const QColor c2 = style::series_color(2, pal);
  tps_raw_->setPen(QPen(style::tint(c2, 110)));
  tps_raw_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssNone));
  tps_smooth_->setPen(QPen(c2, 2));
}

void LatencyPlotView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange) {
    apply_colors();
    dirty_ = true;
  }
}

}  // namespace emoe::ui
