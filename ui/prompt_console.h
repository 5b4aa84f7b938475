// The interactive session: chat-style history, an input where Enter sends (Shift+Enter: new
// line), Stop to cancel; generated tokens stream in tinted by their dominant expert, and a
// status line shows live prefill/decode tokens/s and time to first token. Clicking or hovering a
// generated token selects it for tracing.
#pragma once

#include <QColor>
#include <QElapsedTimer>
#include <QTextCharFormat>
#include <QTextFormat>
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
class QTextCursor;
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
  // The task the engine runs the next request as (arrives before on_request_started); the
  // answer's header shows it instead of the task box's choice ("auto" is classified).
  void set_request_task(qint64 request_id, const QString& task);
  void on_request_started(qint64 request_id, const QString& text);
  void on_request_finished(const RequestStats& stats);
  void clear();

  // The streamed tokens of the requests still in the history, in order (the history keeps the
  // latest kMaxRequests requests, dropping older ones while it holds over kMaxTokens tokens).
  const std::vector<TokenTelemetry>& tokens() const { return tokens_; }
  void select_token(int index);  // an index into tokens(); emits token_selected

  static constexpr size_t kMaxRequests = 64;
  static constexpr size_t kMaxTokens = 32768;

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
  struct RequestMark {
    int start = 0;     // document position where the request's section begins
    size_t first = 0;  // its first token in tokens_
  };
  void begin_answer(const QString& task);
  QTextBlockFormat request_block_format(bool first) const;  // a request's "You" block
  // Inserts a token's text at the end of the document through `cursor` (in the caller's edit
  // block) and records its span.
  void append_piece(QTextCursor& cursor, int index, const QString& text);
  const QTextCharFormat& expert_format(int32_t expert);
  void flush_pending();
  void trim_history();
  void mark_selected(int index);
  void on_link(const QUrl& url);
  void update_live_status();

  std::vector<TokenTelemetry> tokens_;
  std::vector<Span> spans_;            // [tokens_.size()]
  std::vector<RequestMark> requests_;  // the requests in the history, oldest first
  int64_t tokens_dropped_ = 0;         // trimmed tokens: a link "tok:N" is tokens_[N - this]
  // Per expert (the last entry: no dominant expert): the anchor format with its tint, so a
  // token only adds its href and tooltip. Built for n_expert_.
  std::vector<QTextCharFormat> expert_formats_;
  std::string utf8_pending_;  // leading bytes of a character split across tokens
  int32_t n_expert_ = 0;
  int selected_ = -1;
  bool busy_ = false;
  bool answer_open_ = false;     // an answer block takes the next tokens
  int request_first_token_ = 0;  // index in tokens_ of the current request's first token
  QString request_task_;         // from set_request_task; empty: the task box
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
