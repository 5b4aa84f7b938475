#include "ui/prompt_console.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QSpinBox>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextDocument>
#include <QUrl>
#include <QVBoxLayout>
#include <algorithm>

#include "ui/view_style.h"

namespace emoe::ui {
namespace {

constexpr int kTintAlpha = 80;  // token backgrounds: visible hue, text stays readable

// Length of the longest prefix of `s` that ends on a whole UTF-8 character; a trailing partial
// character (a token may end inside one) is held back until the next token completes it.
size_t complete_utf8_prefix(const std::string& s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    const size_t need = c < 0x80           ? 1
                        : (c >> 5) == 0x6  ? 2
                        : (c >> 4) == 0xE  ? 3
                        : (c >> 3) == 0x1E ? 4
                                           : 1;
    return back >= need ? n : n - back;
  }
  return n;  // no lead byte in reach: invalid anyway, let the decoder replace it
}

QString rate_text(double tok_s) {
  return tok_s > 0 ? QString::number(tok_s, 'f', tok_s < 100 ? 1 : 0) : QStringLiteral("-");
}

}  // namespace

QColor PromptConsole::expert_color(int32_t expert, int32_t n_expert) {
  return style::expert_hue(expert, n_expert);
}

PromptConsole::PromptConsole(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(4);

  history_ = new QTextBrowser(this);
  history_->setObjectName(QStringLiteral("history"));
  history_->setOpenLinks(false);
  history_->setOpenExternalLinks(false);
  history_->setUndoRedoEnabled(false);
  layout->addWidget(history_, 1);

  auto* options = new QHBoxLayout;
  options->addWidget(new QLabel(tr("Task:"), this));
  task_box_ = new QComboBox(this);
  task_box_->setObjectName(QStringLiteral("task"));
  task_box_->addItems({QStringLiteral("chat"), QStringLiteral("auto"),
                       QStringLiteral("summarization"), QStringLiteral("classification"),
                       QStringLiteral("qa"), QStringLiteral("comparison"), QStringLiteral("code")});
  options->addWidget(task_box_);
  options->addSpacing(12);
  options->addWidget(new QLabel(tr("Max tokens:"), this));
  max_tokens_ = new QSpinBox(this);
  max_tokens_->setObjectName(QStringLiteral("max_tokens"));
  max_tokens_->setRange(1, 8192);
  max_tokens_->setValue(64);
  options->addWidget(max_tokens_);
  options->addStretch(1);
  layout->addLayout(options);

  auto* row = new QHBoxLayout;
  input_ = new QPlainTextEdit(this);
  input_->setObjectName(QStringLiteral("input"));
  input_->setPlaceholderText(tr("Type a prompt. Enter sends, Shift+Enter starts a new line."));
  input_->setTabChangesFocus(true);
  input_->setFixedHeight(input_->fontMetrics().lineSpacing() * 4 + 12);
  input_->installEventFilter(this);
  row->addWidget(input_, 1);
  auto* buttons = new QVBoxLayout;
  send_button_ = new QPushButton(tr("Send"), this);
  send_button_->setObjectName(QStringLiteral("send"));
  stop_button_ = new QPushButton(tr("Stop"), this);
  stop_button_->setObjectName(QStringLiteral("stop"));
  buttons->addWidget(send_button_);
  buttons->addWidget(stop_button_);
  buttons->addStretch(1);
  row->addLayout(buttons);
  layout->addLayout(row);

  status_ = new QLabel(this);
  status_->setObjectName(QStringLiteral("status"));
  layout->addWidget(status_);

  connect(send_button_, &QPushButton::clicked, this, &PromptConsole::send);
  connect(stop_button_, &QPushButton::clicked, this, &PromptConsole::stop_requested);
  connect(history_, &QTextBrowser::anchorClicked, this, &PromptConsole::on_link);
  connect(history_, qOverload<const QUrl&>(&QTextBrowser::highlighted), this,
          &PromptConsole::on_link);
  set_busy(false);
  clear();
}

void PromptConsole::set_n_expert(int32_t n_expert) {
  n_expert_ = n_expert;
  expert_formats_.clear();  // tints depend on n_expert
}

void PromptConsole::set_busy(bool busy) {
  busy_ = busy;
  send_button_->setEnabled(!busy);
  stop_button_->setEnabled(busy);
}

void PromptConsole::set_input_text(const QString& text) { input_->setPlainText(text); }

void PromptConsole::send() {
  const QString text = input_->toPlainText();
  if (busy_ || text.trimmed().isEmpty()) return;
  PromptRequest request;
  request.text = text;
  request.task = task_box_->currentText();
  request.max_new_tokens = max_tokens_->value();
  input_->clear();
  emit send_requested(request);
}

bool PromptConsole::eventFilter(QObject* watched, QEvent* event) {
  if (watched == input_ && event->type() == QEvent::KeyPress) {
    auto* key = static_cast<QKeyEvent*>(event);
    if (key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) {
      if (key->modifiers() & Qt::ShiftModifier) {
        input_->insertPlainText(QStringLiteral("\n"));
      } else {
        send();
      }
      return true;
    }
  }
  return QWidget::eventFilter(watched, event);
}

void PromptConsole::on_request_started(qint64 request_id, const QString& text) {
  flush_pending();
  trim_history();
  QTextDocument* doc = history_->document();
  QTextCursor cursor(doc);
  cursor.movePosition(QTextCursor::End);
  const bool first = doc->isEmpty();
  if (!first) {
    cursor.insertBlock(request_block_format(false), QTextCharFormat());
  } else {
    cursor.setBlockFormat(request_block_format(true));
  }
  requests_.push_back(RequestMark{cursor.position(), tokens_.size()});
  QTextCharFormat label;
  label.setFontWeight(QFont::Bold);
  cursor.insertText(tr("You (request %1): ").arg(request_id), label);
  cursor.insertText(text, QTextCharFormat());  // literal text: never interpreted as markup
  begin_answer(request_task_.isEmpty() ? task_box_->currentText() : request_task_);
  request_first_token_ = static_cast<int>(tokens_.size());
  request_clock_.start();
  live_ttft_ms_ = -1;
  status_->setText(tr("request %1 running...").arg(request_id));
}

QTextBlockFormat PromptConsole::request_block_format(bool first) const {
  QTextBlockFormat block;
  block.setTopMargin(first ? 0 : 10);
  block.setBackground(palette().color(QPalette::AlternateBase));
  return block;
}

void PromptConsole::trim_history() {
  // Drops the oldest requests (their blocks, tokens and spans) so the document stays small
  // enough that appending and laying out stay cheap however long the session runs.
  size_t drop = 0;
  const auto kept_tokens = [&] {
    return tokens_.size() - (drop < requests_.size() ? requests_[drop].first : tokens_.size());
  };
  while (drop < requests_.size() &&
         (requests_.size() - drop >= kMaxRequests || kept_tokens() > kMaxTokens)) {
    ++drop;
  }
  if (drop == 0) return;
  QTextDocument* doc = history_->document();
  const bool all = drop == requests_.size();
  const int removed = all ? doc->characterCount() - 1 : requests_[drop].start;
  const size_t n_tok = all ? tokens_.size() : requests_[drop].first;
  if (all) {
    history_->clear();
  } else {
    QTextCursor cursor(doc);
    cursor.beginEditBlock();
    cursor.setPosition(0);
    cursor.setPosition(removed, QTextCursor::KeepAnchor);
    cursor.removeSelectedText();
    cursor.setBlockFormat(request_block_format(true));  // the oldest kept request is first now
    cursor.endEditBlock();
  }
  const auto n = static_cast<std::ptrdiff_t>(n_tok);
  tokens_.erase(tokens_.begin(), tokens_.begin() + n);
  spans_.erase(spans_.begin(), spans_.begin() + n);
  for (Span& sp : spans_) sp.start -= removed;
  requests_.erase(requests_.begin(), requests_.begin() + static_cast<std::ptrdiff_t>(drop));
  for (RequestMark& r : requests_) {
    r.start -= removed;
    r.first -= n_tok;
  }
  tokens_dropped_ += static_cast<int64_t>(n_tok);
  selected_ = selected_ >= static_cast<int>(n_tok) ? selected_ - static_cast<int>(n_tok) : -1;
  request_first_token_ = std::max(0, request_first_token_ - static_cast<int>(n_tok));
}

void PromptConsole::set_request_task(qint64, const QString& task) { request_task_ = task; }

void PromptConsole::begin_answer(const QString& task) {
  QTextCursor cursor(history_->document());
  cursor.movePosition(QTextCursor::End);
  QTextBlockFormat block;
  block.setTopMargin(4);
  block.setLeftMargin(8);
  cursor.insertBlock(block, QTextCharFormat());
  QTextCharFormat label;
  label.setFontWeight(QFont::Bold);
  label.setForeground(style::muted(palette()));
  cursor.insertText(tr("Model [%1]: ").arg(task), label);
  answer_open_ = true;
}

void PromptConsole::append_tokens(const std::vector<TokenTelemetry>& tokens) {
  if (tokens.empty()) return;
  if (!answer_open_) {
    begin_answer(request_task_.isEmpty() ? task_box_->currentText() : request_task_);
    request_first_token_ = static_cast<int>(tokens_.size());
  }
  if (live_ttft_ms_ < 0 && request_clock_.isValid()) {
    live_ttft_ms_ = static_cast<double>(request_clock_.nsecsElapsed()) / 1e6;
  }
  QScrollBar* bar = history_->verticalScrollBar();
  const bool at_bottom = bar->value() >= bar->maximum() - 4;
  // One edit block per call: the document lays out and signals its change once, not once
  // per token.
  QTextCursor cursor(history_->document());
  cursor.movePosition(QTextCursor::End);
  cursor.beginEditBlock();
  for (const TokenTelemetry& t : tokens) {
    tokens_.push_back(t);
    utf8_pending_ += t.piece;
    const size_t n = complete_utf8_prefix(utf8_pending_);
    const QString text = QString::fromUtf8(utf8_pending_.data(), static_cast<qsizetype>(n));
    utf8_pending_.erase(0, n);
    append_piece(cursor, static_cast<int>(tokens_.size()) - 1, text);
  }
  cursor.endEditBlock();
  if (at_bottom) bar->setValue(bar->maximum());
  update_live_status();
}

const QTextCharFormat& PromptConsole::expert_format(int32_t expert) {
  const size_t i = static_cast<size_t>(std::max(expert, -1) + 1);  // 0: no dominant expert
  if (i >= expert_formats_.size()) expert_formats_.resize(i + 1);
  QTextCharFormat& fmt = expert_formats_[i];
  if (!fmt.isAnchor()) {
    fmt.setAnchor(true);
    if (expert >= 0) fmt.setBackground(style::tint(expert_color(expert, n_expert_), kTintAlpha));
  }
  return fmt;
}

void PromptConsole::append_piece(QTextCursor& cursor, int index, const QString& text) {
  Span span;
  span.start = cursor.position();
  if (!text.isEmpty()) {
    const TokenTelemetry& t = tokens_[index];
    const qint64 id = tokens_dropped_ + index;  // stable across trimming
    QTextCharFormat fmt = expert_format(t.dominant_expert);
    fmt.setAnchorHref(QStringLiteral("tok:%1").arg(id));
    fmt.setToolTip(
        t.dominant_expert >= 0
            ? tr("token %1, id %2, dominant expert e%3")
                  .arg(QString::number(id), QString::number(t.token_id),
                       QString::number(t.dominant_expert))
            : tr("token %1, id %2").arg(QString::number(id), QString::number(t.token_id)));
    cursor.insertText(text, fmt);
  }
  span.length = cursor.position() - span.start;
  spans_.push_back(span);
}

void PromptConsole::flush_pending() {
  if (utf8_pending_.empty() || spans_.empty()) {
    utf8_pending_.clear();
    return;
  }
  // The request ended inside a character: show what is left (as replacement characters) with
  // the last token, which carried those bytes.
  const QString text =
      QString::fromUtf8(utf8_pending_.data(), static_cast<qsizetype>(utf8_pending_.size()));
  utf8_pending_.clear();
  QTextCursor cursor(history_->document());
  cursor.movePosition(QTextCursor::End);
  const int index = static_cast<int>(tokens_.size()) - 1;
  QTextCharFormat fmt;
  fmt.setAnchor(true);
  fmt.setAnchorHref(QStringLiteral("tok:%1").arg(tokens_dropped_ + index));
  if (spans_.back().length == 0) spans_.back().start = cursor.position();
  cursor.insertText(text, fmt);
  spans_.back().length = cursor.position() - spans_.back().start;
}

void PromptConsole::on_request_finished(const RequestStats& stats) {
  flush_pending();
  QTextCursor cursor(history_->document());
  cursor.movePosition(QTextCursor::End);
  QTextBlockFormat block;
  block.setLeftMargin(8);
  cursor.insertBlock(block, QTextCharFormat());
  QTextCharFormat info;
  info.setFontPointSize(std::max(6.0, font().pointSizeF() - 1));
  QString line;
  if (!stats.error.empty()) {
    info.setForeground(style::bad_color(palette()));
    line = tr("error: %1").arg(QString::fromStdString(stats.error));
  } else {
    info.setForeground(style::muted(palette()));
    line = tr("%1 prompt + %2 generated tokens, stop: %3, TTFT %4 ms, E2E %5 ms")
               .arg(stats.prompt_tokens)
               .arg(stats.generated_tokens)
               .arg(QString::fromStdString(stats.stop_reason))
               .arg(stats.ttft_ms, 0, 'f', 0)
               .arg(stats.e2e_ms, 0, 'f', 0);
  }
  cursor.insertText(line, info);
  answer_open_ = false;
  status_->setText(tr("prefill %1 tok/s  |  decode %2 tok/s  |  TTFT %3 ms")
                       .arg(rate_text(stats.prefill_tok_s), rate_text(stats.decode_tok_s))
                       .arg(stats.ttft_ms, 0, 'f', 0));
}

void PromptConsole::update_live_status() {
  // Live estimates until the request's exact stats arrive: decode rate from the tokens' own
  // timestamps; TTFT from the GUI clock (it includes up to one drain tick); prefill rate from
  // the first generated token's position (the prompt length) over that TTFT.
  const int first = std::min(request_first_token_, static_cast<int>(tokens_.size()));
  int n_decode = 0;
  double t0 = 0, t1 = 0;
  for (int i = first; i < static_cast<int>(tokens_.size()); ++i) {
    const TokenTelemetry& t = tokens_[i];
    if (t.phase != engine::Phase::Decode) continue;
    if (n_decode == 0) t0 = t.time_s;
    t1 = t.time_s;
    ++n_decode;
  }
  const double decode = n_decode >= 2 && t1 > t0 ? (n_decode - 1) / (t1 - t0) : 0;
  double prefill = 0;
  if (first < static_cast<int>(tokens_.size()) && live_ttft_ms_ > 0) {
    prefill = std::max(1, tokens_[first].pos) / (live_ttft_ms_ / 1000.0);
  }
  status_->setText(
      tr("prefill ~%1 tok/s  |  decode %2 tok/s  |  TTFT ~%3 ms")
          .arg(rate_text(prefill), rate_text(decode))
          .arg(live_ttft_ms_ >= 0 ? QString::number(live_ttft_ms_, 'f', 0) : QStringLiteral("-")));
}

void PromptConsole::on_link(const QUrl& url) {
  if (url.scheme() != QLatin1String("tok")) return;
  bool ok = false;
  const qint64 id = url.path().toLongLong(&ok);
  if (ok && id >= tokens_dropped_) select_token(static_cast<int>(id - tokens_dropped_));
}

void PromptConsole::select_token(int index) {
  if (index < 0 || index >= static_cast<int>(tokens_.size())) return;
  mark_selected(index);
  emit token_selected(tokens_[index]);
}

void PromptConsole::mark_selected(int index) {
  auto underline = [this](int i, bool on) {
    if (i < 0 || i >= static_cast<int>(spans_.size()) || spans_[i].length == 0) return;
    QTextCursor cursor(history_->document());
    cursor.setPosition(spans_[i].start);
    cursor.setPosition(spans_[i].start + spans_[i].length, QTextCursor::KeepAnchor);
    QTextCharFormat fmt;
    fmt.setFontUnderline(on);
    cursor.mergeCharFormat(fmt);
  };
  if (selected_ == index) return;
  underline(selected_, false);
  underline(index, true);
  selected_ = index;
}

void PromptConsole::clear() {
  request_task_.clear();
  history_->clear();
  tokens_.clear();
  spans_.clear();
  requests_.clear();
  tokens_dropped_ = 0;
  utf8_pending_.clear();
  selected_ = -1;
  answer_open_ = false;
  request_first_token_ = 0;
  live_ttft_ms_ = -1;
  status_->setText(tr("ready"));
}

}  // namespace emoe::ui
