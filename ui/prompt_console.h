// The interactive session: chat-style history, an input where Enter sends (Shift+Enter: new
// line), Stop to cancel; generated tokens stream in tinted by their dominant expert, and a
// status line shows live prefill/decode tokens/s and time to first token. Clicking or hovering a
// generated token selects it for tracing.
#pragma once

#include <QColor>
#include <QWidget>
#include <vector>

#include "ui/engine_controller.h"
#include "ui/telemetry.h"

namespace emoe::ui {

class PromptConsole : public QWidget {
  Q_OBJECT

 public:
  explicit PromptConsole(QWidget* parent = nullptr);

  // A distinct, theme-independent colour per expert id (used by the console and the trace).
  static QColor expert_color(int32_t expert, int32_t n_expert);

  void set_n_expert(int32_t n_expert);
  void set_busy(bool busy);  // disables Send, enables Stop
  void set_input_text(const QString& text);
  void send();  // as if Enter was pressed

  // Generated (decode-phase, or the first token after the prompt) tokens of the current request.
  void append_tokens(const std::vector<TokenTelemetry>& tokens);
  void on_request_started(qint64 request_id, const QString& text);
  void on_request_finished(const RequestStats& stats);
  void clear();

  const std::vector<TokenTelemetry>& tokens() const { return tokens_; }  // all streamed, in order
  void select_token(int index);                                          // emits token_selected

 signals:
  void send_requested(const emoe::ui::PromptRequest& request);
  void stop_requested();
  void token_selected(const emoe::ui::TokenTelemetry& token);

 private:
  std::vector<TokenTelemetry> tokens_;
};

}  // namespace emoe::ui
