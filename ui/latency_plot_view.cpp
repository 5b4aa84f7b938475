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
  plot_->legend->setVisible(true);
  plot_->legend->setFont(QFont(font().family(), std::max(7, font().pointSize() - 1)));

  QCPAxis* tx = bottom->axis(QCPAxis::atBottom);
  QCPAxis* ty = bottom->axis(QCPAxis::atLeft);
  tx->setLabel(tr("time (s)"));
  ty->setLabel(tr("decode tokens/s"));
  tps_raw_ = plot_->addGraph(tx, ty);
  tps_raw_->setName(tr("per step"));
  tps_raw_->setLineStyle(QCPGraph::lsNone);
  tps_smooth_ = plot_->addGraph(tx, ty);
  tps_smooth_->setName(tr("smoothed"));
  auto* bottom_legend = new QCPLegend;
  bottom->insetLayout()->addElement(bottom_legend, Qt::AlignTop | Qt::AlignRight);
  bottom_legend->setLayer(QStringLiteral("legend"));
  bottom_legend->setFont(plot_->legend->font());
  plot_->legend->clearItems();
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
  requests_.insert(requests_.end(), requests.begin(), requests.end());
  update_label();
  dirty_ = true;
}

void LatencyPlotView::add_steps(const std::vector<StepStats>& steps) {
  for (const StepStats& s : steps) {
    if (s.phase != engine::Phase::Decode || s.n_tokens <= 0 || !(s.seconds > 0)) continue;
    decode_steps_.push_back(s);
    dirty_ = true;
  }
  while (decode_steps_.size() > kMaxSteps) decode_steps_.pop_front();
}

void LatencyPlotView::clear() {
  requests_.clear();
  decode_steps_.clear();
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

void LatencyPlotView::replot_if_dirty() {
  if (!dirty_) return;
  dirty_ = false;
  rebuild();
  plot_->replot();
}

void LatencyPlotView::rebuild() {
  const int n = static_cast<int>(requests_.size());
  QVector<double> tk(n), tv(n), ek(n), ev(n);
  QVector<double> mk, mv, xk, xv;
  double y_max = 0;
  for (int i = 0; i < n; ++i) {
    const RequestStats& r = requests_[i];
    const double x = i + 1;
    tk[i] = x - kBarOffset;
    tv[i] = r.ttft_ms;
    ek[i] = x + kBarOffset;
    ev[i] = r.e2e_ms;
    y_max = std::max({y_max, r.ttft_ms, r.e2e_ms});
    const bool failed = !r.error.empty();
    if (r.slo_ttft_ms) {
      const bool ok = !failed && r.ttft_ms <= *r.slo_ttft_ms;
      (ok ? mk : xk) << tk[i];
      (ok ? mv : xv) << *r.slo_ttft_ms;
      y_max = std::max(y_max, *r.slo_ttft_ms);
    }
    if (r.slo_e2e_ms) {
      const bool ok = !failed && r.e2e_ms <= *r.slo_e2e_ms;
      (ok ? mk : xk) << ek[i];
      (ok ? mv : xv) << *r.slo_e2e_ms;
      y_max = std::max(y_max, *r.slo_e2e_ms);
    }
  }
  ttft_->setData(tk, tv, true);
  e2e_->setData(ek, ev, true);
  slo_met_->setData(mk, mv, true);
  slo_missed_->setData(xk, xv, true);

  QVector<double> st, sr, ss;
  double ema = 0, tps_max = 0;
  for (const StepStats& s : decode_steps_) {
    const double rate = s.n_tokens / s.seconds;
    ema = st.isEmpty() ? rate : kSmoothing * rate + (1 - kSmoothing) * ema;
    st << s.time_s;
    sr << rate;
    ss << ema;
    tps_max = std::max(tps_max, rate);
  }
  tps_raw_->setData(st, sr);
  tps_smooth_->setData(st, ss);

  if (follow_) {
    QCPAxisRect* top = plot_->axisRect(0);
    QCPAxisRect* bottom = plot_->axisRect(1);
    top->axis(QCPAxis::atBottom)->setRange(0.4, std::max(1, n) + 0.6);
    top->axis(QCPAxis::atLeft)->setRange(0, y_max > 0 ? y_max * 1.1 : 1);
    if (!st.isEmpty()) {
      const double t0 = st.front(), t1 = st.back();
      bottom->axis(QCPAxis::atBottom)->setRange(t0, t1 > t0 ? t1 : t0 + 1);
    }
    bottom->axis(QCPAxis::atLeft)->setRange(0, tps_max > 0 ? tps_max * 1.1 : 1);
  }
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
  tps_raw_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 3));
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
