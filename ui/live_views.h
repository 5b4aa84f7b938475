// What the main window's ~30 Hz tick does with the engine's telemetry: one drained batch goes
// into the views' data (counts to the heatmap, memory, events and steps to the plots, generated
// tokens queued for the console), then the drawing follows in short steps, each in its own
// event-loop pass so input and paint events get in between: the console catches up (within a
// time budget) and the trace shows the newest routed token, then each plot that changed
// replots. Also replays a recorded session into the same views.
#pragma once

#include <QString>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "ui/telemetry.h"

class QObject;

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
  static constexpr int kBudgetMs = 12;  // GUI time one console step spends before deferring

  explicit LiveViews(ViewSet views);
  ~LiveViews();

  void reset(int32_t n_layer, int32_t n_expert);  // empties every view for this shape
  void ingest(TelemetryBatch batch);
  // Before the request's telemetry: its header in the console, and the trace follows it.
  void request_started(qint64 request_id, const QString& text);
  void set_follow_latest(bool on);
  // The device tier's residency for the heatmap's overlay (empty: no tier); kept while a
  // recorded session is shown and applied again when live views return.
  void set_residency(std::vector<uint8_t> resident);
  // Queues the drawing steps for what ingest() brought (no-op while they are still queued).
  void update();
  void show_review(const SessionReview& review);

  size_t console_backlog() const;
  // Every token of the latest live request in position order (prompt and generated).
  const std::vector<TokenTelemetry>& request_tokens() const { return request_tokens_; }
  int64_t tokens_seen() const { return tokens_seen_; }
  double decode_tok_s() const { return decode_tok_s_; }  // smoothed over decode steps

 private:
  static constexpr size_t kMaxRequestTokens = 1 << 16;
  // The drawing steps in order; kYield only lets the event loop run once after the tick.
  enum Step { kYield, kConsole, kHeatmap, kMemory, kLatency, kSteps };
  void run_step(int step);  // runs it and queues the next

  ViewSet v_;
  std::unique_ptr<ConsoleFeed> feed_;
  std::unique_ptr<QObject> pacer_;  // receives the queued steps; deleting it drops them
  bool steps_queued_ = false;
  std::optional<TokenTelemetry> trace_next_;  // the newest routed token, shown by kConsole
  std::vector<TokenTelemetry> request_tokens_;
  std::vector<uint8_t> residency_;  // the latest device-tier residency (empty: no tier)
  bool reviewing_ = false;          // show_review's content is shown
  int64_t tokens_seen_ = 0;
  double decode_tok_s_ = 0;
  bool follow_latest_ = true;  // the trace shows the newest token until one is picked
};

}  // namespace emoe::ui
