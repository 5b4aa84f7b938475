// Hands the prompt console its events in request order (started, generated tokens, finished)
// within a time budget per GUI tick. Appending a token to the console's rich-text history
// costs far more than everything else a tick does, so when the engine outpaces the widget the
// tokens wait here and are caught up over the next ticks (in larger chunks the further behind
// the console is) instead of stalling the event loop in one long tick.
#pragma once

#include <QElapsedTimer>
#include <QString>
#include <cstddef>
#include <deque>
#include <vector>

#include "ui/telemetry.h"

namespace emoe::ui {

class PromptConsole;

class ConsoleFeed {
 public:
  explicit ConsoleFeed(PromptConsole* console) : console_(console) {}

  void started(qint64 request_id, const QString& text);
  void tokens(std::vector<TokenTelemetry> generated);
  void finished(const RequestStats& stats);
  void clear() {
    queue_.clear();
    backlog_ = 0;
  }
  // Delivers queued events until `clock` passes budget_ms (always at least one chunk).
  void flush(const QElapsedTimer& clock, int budget_ms);
  size_t backlog() const { return backlog_; }  // tokens waiting

 private:
  struct Item {
    enum Kind { Started, Tokens, Finished } kind = Tokens;
    qint64 request_id = 0;
    QString text;
    std::vector<TokenTelemetry> tokens;
    size_t next = 0;  // tokens already delivered
    RequestStats stats;
  };
  PromptConsole* console_;
  std::deque<Item> queue_;
  size_t backlog_ = 0;
};

}  // namespace emoe::ui
