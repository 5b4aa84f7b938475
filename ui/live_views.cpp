#include "ui/live_views.h"

#include <QElapsedTimer>
#include <QMetaObject>
#include <QObject>
#include <algorithm>
#include <limits>

#include "ui/console_feed.h"
#include "ui/expert_heatmap_view.h"
#include "ui/latency_plot_view.h"
#include "ui/memory_plot_view.h"
#include "ui/prompt_console.h"
#include "ui/session_browser.h"
#include "ui/token_trace_view.h"

namespace emoe::ui {

LiveViews::LiveViews(ViewSet views)
    : v_(views),
      feed_(std::make_unique<ConsoleFeed>(views.console)),
      pacer_(std::make_unique<QObject>()) {}

LiveViews::~LiveViews() = default;

size_t LiveViews::console_backlog() const { return feed_->backlog(); }

void LiveViews::reset(int32_t n_layer, int32_t n_expert) {
  reviewing_ = false;
  v_.heatmap->set_shape(n_layer, n_expert);
  // The new model's residency may have come before it did (ignored if it is another shape).
  v_.heatmap->set_residency(residency_);
  v_.console->set_n_expert(n_expert);
  feed_->clear();
  v_.console->clear();
  v_.trace->clear();
  v_.memory->clear();
  v_.latency->clear();
  request_tokens_.clear();
  trace_next_.reset();
  decode_tok_s_ = 0;
  follow_latest_ = true;
}

void LiveViews::request_started(qint64 request_id, const QString& text) {
  follow_latest_ = true;
  feed_->started(request_id, text);
}

void LiveViews::ingest(TelemetryBatch b) {
  if (b.empty()) return;
  tokens_seen_ += static_cast<int64_t>(b.tokens.size());
  if (follow_latest_) {
    for (auto t = b.tokens.rbegin(); t != b.tokens.rend(); ++t) {
      if (!t->layers.empty()) {
        trace_next_ = *t;  // the newest token with routing to trace
        break;
      }
    }
  }
  // The console gets each request's generated tokens before its result line.
  std::sort(b.finished.begin(), b.finished.end(),
            [](const auto& x, const auto& y) { return x.request_id < y.request_id; });
  size_t next = 0;
  const auto feed_until = [&](int64_t last_id) {
    std::vector<TokenTelemetry> generated;
    for (; next < b.tokens.size() && b.tokens[next].request_id <= last_id; ++next) {
      if (b.tokens[next].phase == engine::Phase::Decode) generated.push_back(b.tokens[next]);
    }
    feed_->tokens(std::move(generated));
  };
  for (const RequestStats& r : b.finished) {
    feed_until(r.request_id);
    feed_->finished(r);
  }
  feed_until(std::numeric_limits<int64_t>::max());
  for (TokenTelemetry& t : b.tokens) {
    if (!request_tokens_.empty() && request_tokens_.back().request_id != t.request_id) {
      request_tokens_.clear();
    }
    if (request_tokens_.size() < kMaxRequestTokens) request_tokens_.push_back(std::move(t));
  }
  if (!b.counts.empty()) v_.heatmap->add_counts(b.counts);
  if (!b.memory.empty()) v_.memory->append(b.memory);
  if (!b.events.empty()) v_.memory->add_events(b.events);
  if (!b.steps.empty()) {
    v_.memory->add_steps(b.steps);
    v_.latency->add_steps(b.steps);
    for (const StepStats& st : b.steps) {
      if (st.phase == engine::Phase::Decode && st.seconds > 0) {
        const double rate = st.n_tokens / st.seconds;
        decode_tok_s_ = decode_tok_s_ > 0 ? 0.8 * decode_tok_s_ + 0.2 * rate : rate;
      }
    }
  }
  if (!b.finished.empty()) v_.latency->add_requests(b.finished);
  if (b.residency) set_residency(std::move(*b.residency));
}

void LiveViews::set_residency(std::vector<uint8_t> resident) {
  residency_ = std::move(resident);
  if (!reviewing_) v_.heatmap->set_residency(residency_);
}

void LiveViews::set_follow_latest(bool on) {
  follow_latest_ = on;
  if (!on) trace_next_.reset();  // a picked token stays
}

void LiveViews::update() {
  if (steps_queued_) return;  // the queued steps will draw this tick's data too
  steps_queued_ = true;
  QMetaObject::invokeMethod(
      pacer_.get(), [this] { run_step(kYield); }, Qt::QueuedConnection);
}

void LiveViews::run_step(int step) {
  switch (step) {
    case kConsole: {
      QElapsedTimer clock;
      clock.start();
      if (trace_next_ && follow_latest_) v_.trace->show_token(*trace_next_);
      trace_next_.reset();
      feed_->flush(clock, kBudgetMs);
      break;
    }
    case kHeatmap:
      v_.heatmap->replot_if_dirty();
      break;
    case kMemory:
      v_.memory->replot_if_dirty();
      break;
    case kLatency:
      v_.latency->replot_if_dirty();
      break;
    default:
      break;
  }
  // A step queued from a step runs in the next pass of the event loop (Qt delivers events
  // posted during delivery on the next pass), so timers, input and paint get in between.
  if (step + 1 < kSteps) {
    QMetaObject::invokeMethod(
        pacer_.get(), [this, step] { run_step(step + 1); }, Qt::QueuedConnection);
  } else {
    steps_queued_ = false;
  }
}

void LiveViews::show_review(const SessionReview& r) {
  reset(r.n_layer, r.n_expert);
  reviewing_ = true;  // the live residency is not the recording's
  v_.heatmap->set_residency({});
  v_.heatmap->add_counts(r.counts);
  v_.memory->append(r.memory);
  v_.memory->add_events(r.events);
  for (const RequestStats& q : r.requests) {
    v_.console->on_request_started(q.request_id, QString::fromStdString(q.prompt));
    std::vector<TokenTelemetry> tokens;
    for (const TokenTelemetry& t : r.tokens) {
      if (t.request_id == q.request_id && t.phase == engine::Phase::Decode) tokens.push_back(t);
    }
    v_.console->append_tokens(tokens);
    v_.console->on_request_finished(q);
  }
  v_.latency->add_requests(r.requests);
  for (auto t = r.tokens.rbegin(); t != r.tokens.rend(); ++t) {
    if (!t->layers.empty()) {
      v_.trace->show_token(*t);
      break;
    }
  }
  follow_latest_ = false;
  v_.heatmap->replot_if_dirty();
  v_.memory->replot_if_dirty();
  v_.latency->replot_if_dirty();
}

}  // namespace emoe::ui
