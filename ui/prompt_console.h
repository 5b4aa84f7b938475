// The interactive session: chat-style history, an input where Enter sends (Shift+Enter: new
// line), Stop to cancel; generated tokens stream in tinted by their dominant expert, and a
// status line shows live prefill/decode tokens/s and time to first token. Clicking or hovering a
// generated token selects it for tracing.
#pragma once

#include <QColor>
#include <QElapsedTimer>
#include <QWidget>
#include <string>
#include <vector>

#include "ui/engine_controller.h"
#include "ui/telemetry.h"

class QComboBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTextBrowser;
class QUrl;

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

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  struct Span {
    int start = 0, length = 0;  // the token's text in the history document
  };
  void begin_answer(const QString& task);
  void append_piece(int index, const QString& text);
  void flush_pending();
  void mark_selected(int index);
  void on_link(const QUrl& url);
  void update_live_status();

  std::vector<TokenTelemetry> tokens_;
  std::vector<Span> spans_;   // [tokens_.size()]
  std::string utf8_pending_;  // leading bytes of a character split across tokens
  int32_t n_expert_ = 0;
  int selected_ = -1;
  bool busy_ = false;
  bool answer_open_ = false;     // an answer block takes the next tokens
  int request_first_token_ = 0;  // index in tokens_ of the current request's first token
  QElapsedTimer request_clock_;  // started by on_request_started (wall clock, GUI side)
  double live_ttft_ms_ = -1;     // wall time from request start to its first streamed token

  QTextBrowser* history_ = nullptr;
  QPlainTextEdit* input_ = nullptr;
  QPushButton* send_button_ = nullptr;
  QPushButton* stop_button_ = nullptr;
  QComboBox* task_box_ = nullptr;
  QSpinBox* max_tokens_ = nullptr;
  QLabel* status_ = nullptr;
};

}  // namespace emoe::ui
