#include "ui/request_timeline_view.h"

#include <QEvent>
#include <QHelpEvent>
#include <QPainter>
#include <QPainterPath>
#include <QScrollBar>
#include <QToolTip>
#include <algorithm>
#include <cmath>

#include "ui/view_style.h"

namespace emoe::ui {
namespace {

constexpr int kLabelWidth = 118;  // "#123 classification"
constexpr int kMinRowHeight = 6;
constexpr int kMaxRowHeight = 22;
constexpr int kMarker = 8;  // end marker size at full row height

// 1-2-5 steps so about `target` ticks span [0, span].
double tick_step(double span, int target) {
  if (span <= 0 || target <= 0) return 1;
  const double raw = span / target;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

QString ms_text(double ms) {
  if (ms < 0) return QStringLiteral("—");
  return ms >= 10000 ? QStringLiteral("%1 s").arg(ms / 1000, 0, 'f', 2)
                     : QStringLiteral("%1 ms").arg(ms, 0, 'f', 1);
}

// Axis ticks: no decimals the step does not need ("50 ms", "2.5 s").
QString tick_text(double ms, double step) {
  const bool seconds = step >= 1000;
  const double v = seconds ? ms / 1000 : ms, st = seconds ? step / 1000 : step;
  const int decimals = st >= 1 ? 0 : st >= 0.1 ? 1 : 2;
  return QStringLiteral("%1 %2").arg(v, 0, 'f', decimals).arg(seconds ? "s" : "ms");
}

}  // namespace

const char* timeline_state_name(TimelineRow::State s) {
  switch (s) {
    case TimelineRow::Queued:
      return "queued";
    case TimelineRow::Prefill:
      return "prefill";
    case TimelineRow::Decode:
      return "decode";
    case TimelineRow::Finished:
      return "finished";
    case TimelineRow::Rejected:
      return "rejected";
  }
  return "?";
}

RequestTimelineView::RequestTimelineView(QWidget* parent) : QAbstractScrollArea(parent) {
  setObjectName("requestTimeline");
  setVerticalScrollBarPolicy(Qt::ScrollBarAsNeeded);
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  viewport()->setMouseTracking(true);
  setMinimumHeight(120);
  verticalScrollBar()->setSingleStep(kMaxRowHeight);
  connect(verticalScrollBar(), &QScrollBar::valueChanged, viewport(),
          qOverload<>(&QWidget::update));
}

void RequestTimelineView::clear() {
  live_ = {};
  stored_ = {};
  live_point_ = -1;
  showing_live_ = true;
  title_.clear();
  update_scroll();
  viewport()->update();
  emit shown_changed();
}

void RequestTimelineView::begin_live(int32_t point, const QString& label) {
  live_ = {};
  live_.title = label;
  live_point_ = point;
  show_live();
}

void RequestTimelineView::show_live() {
  showing_live_ = true;
  title_ = live_.title;
  update_scroll();
  viewport()->update();
  emit shown_changed();
}

void RequestTimelineView::recount(Data& d) {
  d.finished = d.met = d.rejected = 0;
  for (const TimelineRow& r : d.rows) {
    d.finished += r.state == TimelineRow::Finished;
    d.met += r.slo == 1;
    d.rejected += r.state == TimelineRow::Rejected;
  }
}

TimelineRow& RequestTimelineView::row_for(Data& d, int64_t id) {
  auto [it, added] = d.index.try_emplace(id, d.rows.size());
  if (added) {
    d.rows.emplace_back();
    d.rows.back().id = id;
  }
  return d.rows[it->second];
}

void RequestTimelineView::add_events(const std::vector<TimelineEvent>& events) {
  bool changed = false;
  for (const TimelineEvent& e : events) {
    if (e.point != live_point_) continue;
    changed = true;
    TimelineRow& r = row_for(live_, e.id);
    r.from_events = true;
    live_.span_ms = std::max(live_.span_ms, e.time_ms);
    switch (e.kind) {
      case TimelineEvent::Arrived:
        r.arrival_ms = e.time_ms;
        break;
      case TimelineEvent::Admitted:
        r.admit_ms = e.time_ms;
        r.state = TimelineRow::Prefill;
        break;
      case TimelineEvent::FirstToken:
        r.first_token_ms = e.time_ms;
        r.state = TimelineRow::Decode;
        break;
      case TimelineEvent::Finished:
        r.finish_ms = e.time_ms;
        r.generated_tokens = e.tokens;
        r.state = TimelineRow::Finished;
        break;
      case TimelineEvent::Rejected:
        r.arrival_ms = e.time_ms;
        r.state = TimelineRow::Rejected;
        break;
    }
  }
  if (!changed) return;
  recount(live_);
  if (showing_live_) {
    update_scroll();
    viewport()->update();  // coalesced: one paint per event-loop pass
  }
}

namespace {

// The outcome's numbers into a row. A row built from events keeps their state and times, but
// takes the nominal arrival (the Arrived event is when the loop noticed it, at a step's end);
// any other row takes the outcome's timeline.
void apply_outcome(TimelineRow& r, const experiment::RequestOutcome& o) {
  r.task = QString::fromStdString(o.task);
  r.arrival_ms = o.timing.arrival_ms;
  const auto keep = [&](double& v, double stored) {
    if (!r.from_events || v < 0) v = stored;
  };
  keep(r.admit_ms, o.timing.admit_ms);
  keep(r.first_token_ms, o.timing.first_token_ms);
  keep(r.finish_ms, o.timing.finish_ms);
  if (!r.from_events) {
    r.state = o.timing.rejected              ? TimelineRow::Rejected
              : o.state == "finished"        ? TimelineRow::Finished
              : o.timing.first_token_ms >= 0 ? TimelineRow::Decode
              : o.timing.admit_ms >= 0       ? TimelineRow::Prefill
                                             : TimelineRow::Queued;
  }
  r.prefill_done_ms = o.prefill_done_ms;
  r.slo = o.metrics.slo_met ? 1 : 0;
  r.ttft_ms = o.metrics.completed ? o.metrics.ttft_ms : -1;
  r.tpot_ms = o.metrics.completed ? o.metrics.tpot_ms : -1;
  r.e2e_ms = o.metrics.completed ? o.metrics.e2e_ms : -1;
  r.slo_ttft_ms = o.timing.slo_ttft_ms;
  r.slo_e2e_ms = o.timing.slo_e2e_ms;
  r.prompt_tokens = o.timing.prompt_tokens;
  r.generated_tokens = o.timing.generated_tokens;
}

double span_of(const TimelineRow& r) {
  return std::max({r.arrival_ms, r.admit_ms, r.first_token_ms, r.finish_ms});
}

}  // namespace

void RequestTimelineView::annotate_live(const experiment::PointResult& point) {
  if (point.point.index != live_point_) return;
  for (const experiment::RequestOutcome& o : point.requests) {
    apply_outcome(row_for(live_, o.id), o);
    const TimelineRow& r = live_.rows[live_.index.at(o.id)];
    live_.span_ms = std::max(live_.span_ms, span_of(r));
  }
  recount(live_);
  if (showing_live_) {
    update_scroll();
    viewport()->update();
  }
}

void RequestTimelineView::show_point(const experiment::PointResult& point) {
  stored_ = {};
  stored_.title = QString::fromStdString(point.point.label());
  for (const experiment::RequestOutcome& o : point.requests) {
    TimelineRow& r = row_for(stored_, o.id);
    apply_outcome(r, o);
    stored_.span_ms = std::max(stored_.span_ms, span_of(r));
  }
  recount(stored_);
  showing_live_ = false;
  title_ = stored_.title;
  verticalScrollBar()->setValue(0);
  update_scroll();
  viewport()->update();
  emit shown_changed();
}

const std::vector<TimelineRow>& RequestTimelineView::rows() const { return shown().rows; }

double RequestTimelineView::time_span_ms() const { return std::max(shown().span_ms, 1.0); }

namespace {
constexpr int kHeader = 34;  // title line and the time axis
constexpr int kLegend = 18;
}  // namespace

int RequestTimelineView::row_height() const {
  const int n = static_cast<int>(shown().rows.size());
  const int area = std::max(viewport()->height() - kHeader - kLegend, 1);
  if (n == 0) return kMaxRowHeight;
  return std::clamp(area / n, kMinRowHeight, kMaxRowHeight);
}

void RequestTimelineView::update_scroll() {
  const int n = static_cast<int>(shown().rows.size());
  const int area = std::max(viewport()->height() - kHeader - kLegend, 1);
  const int total = n * row_height();
  verticalScrollBar()->setPageStep(area);
  verticalScrollBar()->setRange(0, std::max(0, total - area));
}

void RequestTimelineView::resizeEvent(QResizeEvent* event) {
  QAbstractScrollArea::resizeEvent(event);
  update_scroll();
}

int RequestTimelineView::row_at(const QPoint& pos) const {
  const int y = pos.y() - kHeader;
  if (y < 0 || pos.y() >= viewport()->height() - kLegend) return -1;
  const int row = (y + verticalScrollBar()->value()) / row_height();
  return row < static_cast<int>(shown().rows.size()) ? row : -1;
}

QString RequestTimelineView::tooltip(int row) const {
  if (row < 0 || row >= static_cast<int>(shown().rows.size())) return {};
  const TimelineRow& r = shown().rows[static_cast<size_t>(row)];
  QString slo = r.slo < 0 ? tr("SLO not known yet") : r.slo ? tr("SLO met") : tr("SLO missed");
  QStringList lines;
  lines << tr("<b>Request %1</b>%2: %3, %4")
               .arg(r.id)
               .arg(r.task.isEmpty() ? QString() : QStringLiteral(" [%1]").arg(r.task))
               .arg(QString::fromLatin1(timeline_state_name(r.state)), slo);
  lines << tr("arrival %1, admitted %2 (queued %3)")
               .arg(ms_text(r.arrival_ms), ms_text(r.admit_ms),
                    ms_text(r.admit_ms >= 0 ? r.admit_ms - r.arrival_ms : -1));
  lines << tr("prompt done %1, first token %2, finished %3")
               .arg(ms_text(r.prefill_done_ms), ms_text(r.first_token_ms), ms_text(r.finish_ms));
  const auto bound = [](double b) { return b > 0 ? ms_text(b) : QStringLiteral("none"); };
  lines << tr("TTFT %1 (SLO %2), E2E %3 (SLO %4), TPOT %5")
               .arg(ms_text(r.ttft_ms), bound(r.slo_ttft_ms), ms_text(r.e2e_ms),
                    bound(r.slo_e2e_ms), ms_text(r.tpot_ms));
  const auto count = [](int64_t n) { return n >= 0 ? QString::number(n) : QStringLiteral("—"); };
  lines << tr("%1 prompt tokens, %2 generated")
               .arg(count(r.prompt_tokens), count(r.generated_tokens));
  return lines.join("<br>");
}

bool RequestTimelineView::viewportEvent(QEvent* event) {
  if (event->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(event);
    const int row = row_at(help->pos());
    if (row >= 0) {
      QToolTip::showText(help->globalPos(), tooltip(row), viewport());
    } else {
      QToolTip::hideText();
      event->ignore();
    }
    return true;
  }
  return QAbstractScrollArea::viewportEvent(event);
}

void RequestTimelineView::paintEvent(QPaintEvent*) {
  QPainter p(viewport());
  const QPalette& pal = palette();
  const QRect all = viewport()->rect();
  p.fillRect(all, pal.base());
  p.setRenderHint(QPainter::Antialiasing, true);
  const Data& d = shown();
  const QColor text = pal.color(QPalette::Text), muted = style::muted(pal);
  QFont small = font();
  small.setPointSizeF(std::max(6.0, small.pointSizeF() - 1));
  p.setFont(small);
  const QFontMetrics fm(small);

  // Title: the point, and how many requests are in which state.
  const QString head = d.rows.empty()
                           ? tr("No requests yet — run an experiment, or pick a stored point.")
                           : tr("%1%2 — %3 requests, %4 finished, %5 SLO met, %6 rejected")
                                 .arg(showing_live_ ? tr("live: ") : QString(), d.title)
                                 .arg(d.rows.size())
                                 .arg(d.finished)
                                 .arg(d.met)
                                 .arg(d.rejected);
  p.setPen(text);
  p.drawText(QRect(4, 2, all.width() - 8, fm.height()), Qt::AlignLeft | Qt::AlignVCenter,
             fm.elidedText(head, Qt::ElideRight, all.width() - 8));

  const int x0 = kLabelWidth, x1 = all.width() - 12;
  const double span = time_span_ms();
  const auto xpos = [&](double ms) { return x0 + (x1 - x0) * std::clamp(ms / span, 0.0, 1.0); };
  // Time axis.
  const int axis_y = kHeader - 4;
  p.setPen(muted);
  p.drawLine(x0, axis_y, x1, axis_y);
  const double step = tick_step(span, std::max(2, (x1 - x0) / 90));
  for (double t = 0; t <= span + 1e-9; t += step) {
    const double x = xpos(t);
    p.drawLine(QPointF(x, axis_y), QPointF(x, axis_y - 3));
    p.drawText(QRectF(x - 40, axis_y - 3 - fm.height(), 80, fm.height()), Qt::AlignCenter,
               tick_text(t, step));
  }

  // Rows in view only.
  const int rh = row_height();
  const int bottom = all.height() - kLegend;
  const int scroll = verticalScrollBar()->value();
  const int first = scroll / rh;
  const int last = std::min(static_cast<int>(d.rows.size()), (scroll + bottom - kHeader) / rh + 1);
  const QColor queued = style::tint(muted, 140), prefill = style::series_color(1, pal),
               decode = style::series_color(0, pal), good = style::good_color(pal),
               bad = style::bad_color(pal);
  p.save();
  p.setClipRect(QRect(0, kHeader, all.width(), bottom - kHeader));
  const double bar = std::max(2.0, rh * 0.6);
  for (int i = first; i < last; ++i) {
    const TimelineRow& r = d.rows[static_cast<size_t>(i)];
    const double y = kHeader + i * rh - scroll;
    const double yc = y + rh / 2.0;
    if (rh >= 10) {
      p.setPen(r.state == TimelineRow::Rejected ? bad : text);
      p.drawText(QRectF(4, y, kLabelWidth - 8, rh), Qt::AlignLeft | Qt::AlignVCenter,
                 fm.elidedText(QStringLiteral("#%1 %2").arg(r.id).arg(r.task), Qt::ElideRight,
                               kLabelWidth - 8));
    }
    if (r.state == TimelineRow::Rejected) {
      const double x = xpos(r.arrival_ms), m = std::min<double>(kMarker, rh) / 2.0;
      p.setPen(QPen(bad, 2));
      p.drawLine(QPointF(x - m, yc - m), QPointF(x + m, yc + m));
      p.drawLine(QPointF(x - m, yc + m), QPointF(x + m, yc - m));
      continue;
    }
    const double end = r.finish_ms >= 0 ? r.finish_ms : d.span_ms;  // running: up to now
    const double admit = r.admit_ms >= 0 ? r.admit_ms : end;
    const double first_token = r.first_token_ms >= 0 ? r.first_token_ms : end;
    // Prefill ends with the last prompt token when known, else with the first token.
    const double prefill_end =
        r.prefill_done_ms >= 0 ? std::min(r.prefill_done_ms, first_token) : first_token;
    const auto seg = [&](double a, double b, const QColor& c) {
      if (b < a) return;
      const double xa = xpos(a), xb = std::max(xpos(b), xa + 1.0);
      p.fillRect(QRectF(xa, yc - bar / 2, xb - xa, bar), c);
    };
    p.setPen(Qt::NoPen);
    seg(r.arrival_ms, admit, queued);
    if (r.admit_ms >= 0) seg(admit, prefill_end, prefill);
    // Between the last prompt token and the first token: still the prefill step's work.
    if (r.admit_ms >= 0) seg(prefill_end, first_token, style::tint(prefill, 150));
    if (r.first_token_ms >= 0) seg(first_token, end, decode);
    if (r.state == TimelineRow::Finished) {
      const double m = std::min<double>(kMarker, rh - 1) / 2.0;
      p.setBrush(r.slo < 0 ? text : r.slo ? good : bad);
      p.setPen(QPen(pal.color(QPalette::Base), 1));
      p.drawEllipse(QPointF(xpos(end), yc), m, m);
    }
  }
  p.restore();
  paint_legend(p, QRect(0, bottom, all.width(), kLegend));
}

void RequestTimelineView::paint_legend(QPainter& p, const QRect& r) const {
  const QPalette& pal = palette();
  const QColor muted = style::muted(pal);
  struct Item {
    QString name;
    QColor color;
    enum { Bar, Dot, Cross } shape;
  };
  const Item items[] = {{tr("queued"), style::tint(muted, 140), Item::Bar},
                        {tr("prefill"), style::series_color(1, pal), Item::Bar},
                        {tr("decode"), style::series_color(0, pal), Item::Bar},
                        {tr("SLO met"), style::good_color(pal), Item::Dot},
                        {tr("SLO missed"), style::bad_color(pal), Item::Dot},
                        {tr("rejected"), style::bad_color(pal), Item::Cross}};
  const QFontMetrics fm(p.font());
  int x = r.left() + kLabelWidth;
  p.setPen(Qt::NoPen);
  for (const Item& it : items) {
    const QRectF swatch(x, r.center().y() - 4, 10, 8);
    p.setBrush(it.color);
    if (it.shape == Item::Dot) {
      p.drawEllipse(swatch.center(), 4, 4);
    } else if (it.shape == Item::Cross) {
      p.setPen(QPen(it.color, 2));
      p.drawLine(swatch.topLeft() + QPointF(1, 0), swatch.bottomRight() - QPointF(1, 0));
      p.drawLine(swatch.bottomLeft() + QPointF(1, 0), swatch.topRight() - QPointF(1, 0));
    } else {
      p.fillRect(swatch, it.color);
    }
    p.setPen(pal.color(QPalette::Text));
    p.drawText(QPointF(x + 14, r.center().y() + fm.ascent() / 2.0 - 1), it.name);
    p.setPen(Qt::NoPen);
    x += 24 + fm.horizontalAdvance(it.name);
  }
}

}  // namespace emoe::ui
