#include "ui/memory_plot_view.h"

#include <qcustomplot.h>

#include <QEvent>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "ui/view_style.h"

namespace emoe::ui {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Drops the oldest entries in chunks, so trimming costs O(1) amortised per append.
template <typename C>
void trim_front(C& c, size_t cap) {
  if (c.size() > cap + cap / 4) c.erase(c.begin(), c.begin() + (c.size() - cap));
}

// Appends points (the container merges them in key order) and drops the oldest beyond `cap`,
// in chunks.
void append_capped(QCPGraph* g, const QVector<double>& keys, const QVector<double>& values,
                   int cap) {
  if (keys.isEmpty()) return;
  g->addData(keys, values, std::is_sorted(keys.begin(), keys.end()));
  QSharedPointer<QCPGraphDataContainer> d = g->data();
  if (d->size() > cap + cap / 4) d->removeBefore(d->at(d->size() - cap)->key);
}

double first_key(const QCPGraph* g) { return g->data()->constBegin()->key; }
double last_key(const QCPGraph* g) { return (g->data()->constEnd() - 1)->key; }

QCPRange padded(double lo, double hi) {
  if (!(hi > lo)) return QCPRange(lo - 0.5, lo + 0.5);
  return QCPRange(lo, hi);
}

double max_value(const QCPGraph* g) {
  bool found = false;
  const QCPRange r = g->getValueRange(found);
  return found ? r.upper : 0.0;
}

}  // namespace

MemoryPlotView::MemoryPlotView(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  plot_ = new QCustomPlot(this);
  plot_->setMinimumSize(200, 200);
  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  layout->addWidget(plot_);

  QCPAxisRect* top = plot_->axisRect();
  auto* bottom = new QCPAxisRect(plot_);
  plot_->plotLayout()->addElement(1, 0, bottom);
  plot_->plotLayout()->setRowStretchFactor(0, 2);
  plot_->plotLayout()->setRowStretchFactor(1, 1);
  plot_->plotLayout()->setRowSpacing(4);
  auto* margins = new QCPMarginGroup(plot_);
  top->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  bottom->setMarginGroup(QCP::msLeft | QCP::msRight, margins);
  top->axis(QCPAxis::atBottom)->setLabel(tr("time (s)"));
  top->axis(QCPAxis::atLeft)->setLabel(tr("device memory (MiB)"));
  bottom->axis(QCPAxis::atBottom)->setLabel(tr("time (s)"));
  bottom->axis(QCPAxis::atLeft)->setLabel(tr("hit rate (%)"));
  bottom->axis(QCPAxis::atRight)->setVisible(true);
  bottom->axis(QCPAxis::atRight)->setLabel(tr("loaded per token (KiB)"));
  for (QCPAxisRect* rect : {top, bottom}) {
    rect->setRangeDragAxes(rect->axis(QCPAxis::atBottom), nullptr);
    rect->setRangeZoomAxes(rect->axis(QCPAxis::atBottom), nullptr);
  }

  QCPAxis* tx = top->axis(QCPAxis::atBottom);
  QCPAxis* ty = top->axis(QCPAxis::atLeft);
  dense_ = plot_->addGraph(tx, ty);
  dense_->setName(tr("dense"));
  experts_ = plot_->addGraph(tx, ty);
  experts_->setName(tr("+ experts"));
  experts_->setChannelFillGraph(dense_);
  kv_ = plot_->addGraph(tx, ty);
  kv_->setName(tr("+ KV"));
  kv_->setChannelFillGraph(experts_);
  budget_ = plot_->addGraph(tx, ty);
  budget_->setName(tr("budget"));
  budget_->setLineStyle(QCPGraph::lsStepLeft);
  loads_ = plot_->addGraph(tx, ty);
  loads_->setName(tr("loads"));
  loads_->setLineStyle(QCPGraph::lsNone);
  evictions_ = plot_->addGraph(tx, ty);
  evictions_->setName(tr("evictions"));
  evictions_->setLineStyle(QCPGraph::lsNone);
  for (QCPGraph* g : {dense_, experts_, kv_}) g->setLineStyle(QCPGraph::lsStepLeft);

  QCPAxis* bx = bottom->axis(QCPAxis::atBottom);
  hit_rate_ = plot_->addGraph(bx, bottom->axis(QCPAxis::atLeft));
  hit_rate_->setName(tr("hit rate"));
  bytes_per_token_ = plot_->addGraph(bx, bottom->axis(QCPAxis::atRight));
  bytes_per_token_->setName(tr("KiB loaded / token"));
  bytes_per_token_->setLineStyle(QCPGraph::lsImpulse);

  // Step series are plain lines (a marker per step would cost more than the rest of the
  // plot); only loads and evictions get markers. Big series are drawn without antialiasing.
  plot_->setPlottingHint(QCP::phFastPolylines, true);
  for (QCPGraph* g : {dense_, experts_, kv_, budget_, hit_rate_, bytes_per_token_}) {
    g->setAdaptiveSampling(true);
    g->setAntialiased(false);
    g->setAntialiasedFill(false);
  }

  // The default legend sits in the top rect; the bottom rect gets its own.
  QCPLegend* bottom_legend = style::setup_legends(plot_, font(), bottom);
  for (QCPGraph* g : {dense_, experts_, kv_, budget_, loads_, evictions_}) g->addToLegend();
  for (QCPGraph* g : {hit_rate_, bytes_per_token_}) g->addToLegend(bottom_legend);

  // Both rects share the time axis.
  connect(tx, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this,
          [this, bx](const QCPRange& r) {
            if (syncing_) return;
            syncing_ = true;
            bx->setRange(r);
            syncing_ = false;
          });
  connect(bx, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this,
          [this, tx](const QCPRange& r) {
            if (syncing_) return;
            syncing_ = true;
            tx->setRange(r);
            syncing_ = false;
          });
  connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent*) { follow_ = false; });
  connect(plot_, &QCustomPlot::mouseWheel, this, [this](QWheelEvent*) { follow_ = false; });
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, [this](QMouseEvent*) {
    follow_ = true;
    dirty_ = true;
    replot_if_dirty();
  });

  apply_colors();
}

void MemoryPlotView::append(const std::vector<MemoryPoint>& points) {
  if (points.empty()) return;
  const int n = static_cast<int>(points.size());
  QVector<double> t(n), dense(n), experts(n), kv(n), budget(n);
  for (int i = 0; i < n; ++i) {
    const MemoryPoint& p = points[static_cast<size_t>(i)];
    t[i] = p.time_s;
    dense[i] = static_cast<double>(p.dense_bytes) / kMiB;
    experts[i] = static_cast<double>(p.dense_bytes + p.expert_bytes) / kMiB;
    kv[i] = static_cast<double>(p.dense_bytes + p.expert_bytes + p.kv_bytes) / kMiB;
    budget[i] = p.expert_budget > 0
                    ? static_cast<double>(p.dense_bytes + p.expert_budget + p.kv_bytes) / kMiB
                    : kNaN;  // no device tier: no budget to draw
  }
  append_capped(dense_, t, dense, kMaxHistory);
  append_capped(experts_, t, experts, kMaxHistory);
  append_capped(kv_, t, kv, kMaxHistory);
  append_capped(budget_, t, budget, kMaxHistory);

  // experts_curve_at() searches points_ by time; the engine reports them in order.
  const auto earlier = [](const MemoryPoint& a, const MemoryPoint& b) {
    return a.time_s < b.time_s;
  };
  const size_t old_size = points_.size();
  points_.insert(points_.end(), points.begin(), points.end());
  if (!std::is_sorted(
          points_.begin() + static_cast<std::ptrdiff_t>(old_size > 0 ? old_size - 1 : 0),
          points_.end(), earlier)) {
    std::stable_sort(points_.begin(), points_.end(), earlier);
  }
  trim_front(points_, kMaxHistory);
  if (!waiting_events_.empty()) add_markers(std::exchange(waiting_events_, {}));
  dirty_ = true;
}

void MemoryPlotView::add_events(const std::vector<ExpertEventPoint>& events) {
  std::vector<ExpertEventPoint> shown;
  for (const ExpertEventPoint& e : events) {
    if (e.kind == experts::ExpertEventKind::LoadFinished ||
        e.kind == experts::ExpertEventKind::Evicted) {
      shown.push_back(e);
    }
  }
  if (points_.empty()) {
    waiting_events_.insert(waiting_events_.end(), shown.begin(), shown.end());
    trim_front(waiting_events_, kMaxMarkers);
    return;
  }
  add_markers(shown);
}

void MemoryPlotView::add_markers(const std::vector<ExpertEventPoint>& events) {
  // A marker sits on the experts curve where it is when the event arrives: the curve is a
  // step curve, and its value at t only changes with a point at or before t, which has
  // arrived by then (the engine reports a step's memory before the events after it).
  // Markers closer than kMarkerSpacing_s to the previous one of their kind are left out:
  // under paging pressure there are loads every step, and overlapping markers only cost.
  QVector<double> lt, ly, et, ey;
  for (const ExpertEventPoint& e : events) {
    const bool load = e.kind == experts::ExpertEventKind::LoadFinished;
    double& last = load ? last_load_s_ : last_eviction_s_;
    if (std::abs(e.time_s - last) < kMarkerSpacing_s) continue;
    const double y = experts_curve_at(e.time_s);
    if (std::isnan(y)) continue;
    last = e.time_s;
    (load ? lt : et) << e.time_s;
    (load ? ly : ey) << y;
  }
  append_capped(loads_, lt, ly, kMaxMarkers);
  append_capped(evictions_, et, ey, kMaxMarkers);
  if (!lt.isEmpty() || !et.isEmpty()) dirty_ = true;
}

void MemoryPlotView::add_steps(const std::vector<StepStats>& steps) {
  if (steps.empty()) return;
  QVector<double> ht, hv, bt, bv;
  for (const StepStats& s : steps) {
    if (s.hits + s.misses > 0) {
      ht << s.time_s;
      hv << 100.0 * static_cast<double>(s.hits) / static_cast<double>(s.hits + s.misses);
    }
    if (s.n_tokens > 0) {
      bt << s.time_s;
      bv << static_cast<double>(s.bytes_loaded) / s.n_tokens / 1024.0;
    }
  }
  append_capped(hit_rate_, ht, hv, kMaxHistory);
  append_capped(bytes_per_token_, bt, bv, kMaxHistory);
  dirty_ = true;
}

void MemoryPlotView::clear() {
  points_.clear();
  waiting_events_.clear();
  last_load_s_ = last_eviction_s_ = -kInf;
  for (QCPGraph* g :
       {dense_, experts_, kv_, budget_, loads_, evictions_, hit_rate_, bytes_per_token_}) {
    g->data()->clear();
  }
  follow_ = true;
  dirty_ = true;
}

void MemoryPlotView::replot_if_dirty(bool queued) {
  if (!dirty_) return;
  dirty_ = false;
  if (follow_) update_ranges();
  plot_->replot(queued ? QCustomPlot::rpQueuedReplot : QCustomPlot::rpRefreshHint);
}

double MemoryPlotView::experts_curve_at(double time_s) const {
  if (points_.empty()) return kNaN;
  // The curves are steps: the value at t is the last point at or before t.
  auto it = std::upper_bound(points_.begin(), points_.end(), time_s,
                             [](double t, const MemoryPoint& p) { return t < p.time_s; });
  const MemoryPoint& p = it == points_.begin() ? points_.front() : *(it - 1);
  return static_cast<double>(p.dense_bytes + p.expert_bytes) / kMiB;
}

void MemoryPlotView::update_ranges() {
  // O(points) scans over the graphs' own data, once per replot that has something new.
  double t0 = std::numeric_limits<double>::infinity(), t1 = -t0;
  for (const QCPGraph* g : {dense_, hit_rate_, bytes_per_token_}) {
    if (g->data()->isEmpty()) continue;
    t0 = std::min(t0, first_key(g));
    t1 = std::max(t1, last_key(g));
  }
  const double y_max = std::max(max_value(kv_), max_value(budget_));
  const double kib_max = max_value(bytes_per_token_);
  QCPAxisRect* top = plot_->axisRect(0);
  QCPAxisRect* bottom = plot_->axisRect(1);
  if (t1 >= t0) top->axis(QCPAxis::atBottom)->setRange(padded(t0, t1));
  top->axis(QCPAxis::atLeft)->setRange(0, y_max > 0 ? y_max * 1.08 : 1);
  bottom->axis(QCPAxis::atLeft)->setRange(0, 105);
  bottom->axis(QCPAxis::atRight)->setRange(0, kib_max > 0 ? kib_max * 1.1 : 1);
}

void MemoryPlotView::apply_colors() {
  const QPalette pal = plot_->palette();
  style::apply_plot_theme(plot_);
  auto area = [&](QCPGraph* g, int index) {
    const QColor c = style::series_color(index, pal);
    g->setPen(QPen(c, 1.5));
    g->setBrush(QBrush(style::tint(c, 90)));
  };
  area(dense_, 0);
  area(experts_, 1);
  area(kv_, 2);
  budget_->setPen(QPen(style::bad_color(pal), 1.5, Qt::DashLine));
  budget_->setBrush(Qt::NoBrush);
  const QColor good = style::good_color(pal), bad = style::bad_color(pal);
  loads_->setPen(QPen(good));
  loads_->setScatterStyle(
      QCPScatterStyle(QCPScatterStyle::ssTriangle, good.darker(140), style::tint(good, 200), 7));
  evictions_->setPen(QPen(bad));
  evictions_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssTriangleInverted, bad.darker(140),
                                              style::tint(bad, 200), 7));
  hit_rate_->setPen(QPen(style::series_color(0, pal), 1.5));
  hit_rate_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssNone));
  bytes_per_token_->setPen(QPen(style::series_color(1, pal), 2));
}

void MemoryPlotView::changeEvent(QEvent* event) {
  QWidget::changeEvent(event);
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange) {
    apply_colors();
    dirty_ = true;
  }
}

}  // namespace emoe::ui
