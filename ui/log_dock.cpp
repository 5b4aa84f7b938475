#include "ui/log_dock.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QTime>
#include <QVBoxLayout>

namespace emoe::ui {
namespace {

constexpr size_t kMaxEntries = 5000;

const char* level_name(int level) {
  switch (level) {
    case LogDock::Warning:
      return "warning";
    case LogDock::Error:
      return "error";
    default:
      return "info";
  }
}

}  // namespace

LogDock::LogDock(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(4, 4, 4, 4);
  auto* bar = new QHBoxLayout;
  filter_ = new QComboBox(this);
  filter_->addItems({tr("All messages"), tr("Warnings and errors"), tr("Errors only")});
  auto* clear_button = new QPushButton(tr("Clear"), this);
  bar->addWidget(filter_);
  bar->addStretch(1);
  bar->addWidget(clear_button);
  layout->addLayout(bar);
  view_ = new QPlainTextEdit(this);
  view_->setReadOnly(true);
  view_->setMaximumBlockCount(static_cast<int>(kMaxEntries));
  view_->setLineWrapMode(QPlainTextEdit::NoWrap);
  layout->addWidget(view_, 1);
  connect(filter_, &QComboBox::currentIndexChanged, this, [this] { rebuild(); });
  connect(clear_button, &QPushButton::clicked, this, &LogDock::clear);
}

void LogDock::append(int level, const QString& message) {
  Entry e{QTime::currentTime().toString("HH:mm:ss.zzz"), level, message};
  entries_.push_back(e);
  if (entries_.size() > kMaxEntries) entries_.erase(entries_.begin());
  show_entry(e);
}

void LogDock::show_entry(const Entry& e) {
  if (e.level < filter_->currentIndex()) return;
  QString colour;
  if (e.level == Warning) colour = "#c98a00";
  if (e.level == Error) colour = "#d03030";
  QString line = QStringLiteral("%1  %2  %3")
                     .arg(e.time, QString::fromLatin1(level_name(e.level)).leftJustified(7),
                          e.message.toHtmlEscaped());
  if (!colour.isEmpty())
    line = QStringLiteral("<span style=\"color:%1\">%2</span>").arg(colour, line);
  view_->appendHtml(QStringLiteral("<pre style=\"margin:0\">%1</pre>").arg(line));
}

void LogDock::rebuild() {
  view_->clear();
  for (const Entry& e : entries_) show_entry(e);
}

void LogDock::clear() {
  entries_.clear();
  view_->clear();
}

QString LogDock::text() const { return view_->toPlainText(); }

int LogDock::count(int level) const {
  int n = 0;
  for (const Entry& e : entries_) n += e.level == level ? 1 : 0;
  return n;
}

}  // namespace emoe::ui
