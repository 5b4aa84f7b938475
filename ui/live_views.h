// What the main window's ~30 Hz tick does with the engine's telemetry: one drained batch goes
// into the views (tokens to the console in request order and within a time budget, the newest
// routed token to the trace, counts to the heatmap, memory, events and steps to the plots),
// then each plot replots at most once, staggered so one tick never stacks every replot into
// one stall. Also replays a recorded session into the same views.
#pragma once

#include <QElapsedTimer>
#include <QString>
#include <cstdint>
#include <memory>
#include <vector>

#include "ui/telemetry.h"

namespace emoe::ui {

class ConsoleFeed;
class ExpertHeatmapView;
class LatencyPlotView;
class MemoryPlotView;
class PromptConsole;
class TokenTraceView;
struct SessionReview;

struct ViewSet {
  PromptConsole* console = nullptr;
  TokenTraceView* trace = nullptr;
  ExpertHeatmapView* heatmap = nullptr;
  MemoryPlotView* memory = nullptr;
  LatencyPlotView* latency = nullptr;
};

class LiveViews {
 public:
  static constexpr int kBudgetMs = 12;  // GUI time a tick spends before deferring work

  explicit LiveViews(ViewSet views);
  ~LiveViews();

  void reset(int32_t n_layer, int32_t n_expert);  // empties every view for this shape
  void ingest(TelemetryBatch batch);
  // Before the request's telemetry: its header in the console, and the trace follows it.
  void request_started(qint64 request_id, const QString& text);
  void set_follow_latest(bool on) { follow_latest_ = on; }
  // The rest of a tick: console catch-up, then the plots' replots, within the budget.
  void update(const QElapsedTimer& tick_clock);
  void show_review(const SessionReview& review);

  size_t console_backlog() const;
  // Every token of the latest live request in position order (prompt and generated).
  const std::vector<TokenTelemetry>& request_tokens() const { return request_tokens_; }
  int64_t tokens_seen() const { return tokens_seen_; }
  double decode_tok_s() const { return decode_tok_s_; }  // smoothed over decode steps

 private:
  static constexpr size_t kMaxRequestTokens = 1 << 16;
  ViewSet v_;
  std::unique_ptr<ConsoleFeed> feed_;
  std::vector<TokenTelemetry> request_tokens_;
  int64_t tokens_seen_ = 0;
  double decode_tok_s_ = 0;
  bool follow_latest_ = true;  // the trace shows the newest token until one is picked
  int next_replot_ = 0;        // the plot a tick replots first (0 heatmap, 1 memory, 2 latency)
  QElapsedTimer since_start_;
  qint64 replot_after_ms_[3] = {0, 0, 0};  // on since_start_: an expensive plot's next turn
};

}  // namespace emoe::ui
