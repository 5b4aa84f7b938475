// The Experiment dock's per-request timeline: one row per request of a point, a bar from its
// arrival split into queued (arrival -> admission), prefill (admission -> last prompt token, or
// the first token when that is unknown) and decode (first token -> finish), with a marker at
// the end: green when the request met its SLOs, red when it missed them, a neutral dot while
// that is not known yet (live), a cross for a rejected request. It is fed live from the
// worker's request events, annotated with the point's stored outcome when the point finishes,
// or shown from a stored point. Painting touches only the rows in view, so hundreds of requests
// stay smooth; tooltips give a request's numbers.
#pragma once

#include <QAbstractScrollArea>
#include <QString>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "core/experiment/experiment_result.h"
#include "ui/experiment_worker.h"

namespace emoe::ui {

struct TimelineRow {
  enum State : int { Queued, Prefill, Decode, Finished, Rejected };
  int64_t id = 0;
  QString task;
  State state = Queued;
  // Times on the point's clock (ms); < 0: not reached.
  double arrival_ms = 0, admit_ms = -1, prefill_done_ms = -1, first_token_ms = -1, finish_ms = -1;
  int slo = -1;  // -1: not known yet, 0: missed, 1: met
  double ttft_ms = -1, tpot_ms = -1, e2e_ms = -1;
  double slo_ttft_ms = 0, slo_e2e_ms = 0;  // 0: none
  int64_t prompt_tokens = -1, generated_tokens = -1;
  bool from_events = false;  // built from live events (else from a stored outcome)
};

const char* timeline_state_name(TimelineRow::State s);

class RequestTimelineView : public QAbstractScrollArea {
  Q_OBJECT

 public:
  explicit RequestTimelineView(QWidget* parent = nullptr);

  void clear();
  // Starts a live point: clears the live rows and shows them.
  void begin_live(int32_t point, const QString& label);
  // Events of other points than the live one are ignored.
  void add_events(const std::vector<TimelineEvent>& events);
  // Completes the live rows with the finished point's outcome: SLO marks, prefill end, token
  // counts and the nominal arrival; state and the other times stay as the events gave them.
  void annotate_live(const experiment::PointResult& point);
  // Shows a stored point (replacing the view; the live rows keep updating underneath).
  void show_point(const experiment::PointResult& point);
  void show_live();

  bool showing_live() const { return showing_live_; }
  int32_t live_point() const { return live_point_; }
  QString title() const { return title_; }
  const std::vector<TimelineRow>& rows() const;  // what is shown
  int row_at(const QPoint& viewport_pos) const;  // -1: none
  QString tooltip(int row) const;
  int row_height() const;
  double time_span_ms() const;  // the x axis' end

 signals:
  void shown_changed();

 protected:
  void paintEvent(QPaintEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  bool viewportEvent(QEvent* event) override;

 private:
  struct Data {
    std::vector<TimelineRow> rows;
    std::unordered_map<int64_t, size_t> index;  // request id -> row
    double span_ms = 0;                         // the latest time seen
    QString title;
    int finished = 0, met = 0, rejected = 0;  // counted on change, not per paint
  };
  static void recount(Data& d);
  TimelineRow& row_for(Data& d, int64_t id);
  void update_scroll();
  const Data& shown() const { return showing_live_ ? live_ : stored_; }
  void paint_legend(QPainter& p, const QRect& r) const;

  Data live_, stored_;
  int32_t live_point_ = -1;
  bool showing_live_ = true;
  QString title_;
};

}  // namespace emoe::ui
