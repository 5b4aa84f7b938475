#include "ui/experiment_config_editor.h"

#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSaveFile>
#include <QTextBlock>
#include <QTimer>
#include <QVBoxLayout>
#include <filesystem>

#include "core/experiment/builtin_experiments.h"
#include "core/experiment/experiment_matrix.h"
#include "ui/view_style.h"

namespace emoe::ui {
namespace {

constexpr qint64 kMaxConfigFileBytes = 1 << 20;
constexpr int kDebounceMs = 250;

QString qs(const std::string& s) { return QString::fromStdString(s); }

std::string resolve(const QString& base_dir, const std::string& p) {
  if (p.empty() || base_dir.isEmpty()) return p;
  const std::filesystem::path path(p);
  if (path.is_absolute()) return p;
  return (std::filesystem::path(base_dir.toStdString()) / path).lexically_normal().string();
}

}  // namespace

ExperimentConfigEditor::ExperimentConfigEditor(QWidget* parent) : QWidget(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* buttons = new QHBoxLayout;
  auto* open = new QPushButton(tr("Open…"), this);
  open->setObjectName("experimentOpen");
  auto* save = new QPushButton(tr("Save…"), this);
  save->setObjectName("experimentSave");
  auto* demo = new QPushButton(tr("Load demo configuration"), this);
  demo->setObjectName("experimentDemo");
  for (QPushButton* b : {open, save, demo}) buttons->addWidget(b);
  buttons->addStretch(1);
  layout->addLayout(buttons);

  editor_ = new QPlainTextEdit(this);
  editor_->setObjectName("experimentConfigText");
  editor_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  editor_->setLineWrapMode(QPlainTextEdit::NoWrap);
  editor_->setTabChangesFocus(false);
  layout->addWidget(editor_, 1);
  status_ = new QLabel(this);
  status_->setObjectName("experimentConfigStatus");
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  layout->addWidget(status_);

  // Parsing on every keystroke would mark half-typed JSON; wait for a pause.
  debounce_ = new QTimer(this);
  debounce_->setSingleShot(true);
  debounce_->setInterval(kDebounceMs);
  connect(debounce_, &QTimer::timeout, this, [this] { (void)validate(); });
  connect(editor_, &QPlainTextEdit::textChanged, debounce_, qOverload<>(&QTimer::start));
  connect(open, &QPushButton::clicked, this, &ExperimentConfigEditor::open_dialog);
  connect(save, &QPushButton::clicked, this, &ExperimentConfigEditor::save_dialog);
  connect(demo, &QPushButton::clicked, this, &ExperimentConfigEditor::load_demo);
}

void ExperimentConfigEditor::set_text(const QString& text, const QString& path) {
  path_ = path;
  editor_->setPlainText(text);
  debounce_->stop();
  (void)validate();
}

QString ExperimentConfigEditor::text() const { return editor_->toPlainText(); }

QString ExperimentConfigEditor::open_file(const QString& path) {
  QFile f(path);
  if (QFileInfo(path).size() > kMaxConfigFileBytes) {
    return tr("'%1' is over %2 bytes; it cannot be an experiment configuration")
        .arg(path)
        .arg(kMaxConfigFileBytes);
  }
  if (!f.open(QIODevice::ReadOnly)) return tr("cannot open '%1': %2").arg(path, f.errorString());
  set_text(QString::fromUtf8(f.readAll()), QFileInfo(path).absoluteFilePath());
  emit log_message(0, tr("Experiment configuration %1 opened.").arg(path));
  return {};
}

QString ExperimentConfigEditor::save_file(const QString& path) {
  QSaveFile f(path);
  if (!f.open(QIODevice::WriteOnly) || f.write(text().toUtf8()) < 0 || !f.commit()) {
    return tr("cannot write '%1': %2").arg(path, f.errorString());
  }
  path_ = QFileInfo(path).absoluteFilePath();
  (void)validate();  // relative paths now resolve against the new directory
  emit log_message(0, tr("Experiment configuration saved to %1.").arg(path));
  return {};
}

void ExperimentConfigEditor::load_demo() {
  // Compiled in from resources/experiments/demo.json. Not tied to a file: Save… asks where.
  set_text(qs(std::string(experiment::builtin_experiment_text("demo"))));
  emit log_message(0, tr("Demo experiment configuration loaded."));
}

std::optional<experiment::ExperimentConfig> ExperimentConfigEditor::validate() {
  const QString source =
      path_.isEmpty() ? QStringLiteral("configuration") : QFileInfo(path_).fileName();
  auto c = experiment::parse_experiment_config(text().toStdString(), source.toStdString());
  std::optional<experiment::ExperimentConfig> out;
  if (!c.ok()) {
    error_ = qs(c.status().message());
    // Messages start "source:LINE:" (malformed JSON: "source:LINE:COLUMN:").
    error_line_ = error_column_ = 0;
    error_detail_ = error_;
    if (error_.startsWith(source + ":")) {
      QString rest = error_.mid(source.size() + 1);
      error_line_ = rest.section(':', 0, 0).toInt();
      rest = rest.section(':', 1).trimmed();
      bool col = false;
      const int c2 = rest.section(':', 0, 0).toInt(&col);
      if (col) {
        error_column_ = c2;
        rest = rest.section(':', 1).trimmed();
      }
      if (error_line_ > 0) error_detail_ = rest;
    }
    status_->setStyleSheet(QStringLiteral("color: %1").arg(style::bad_color(palette()).name()));
    status_->setText(location() + error_detail_);
  } else {
    error_.clear();
    error_detail_.clear();
    error_line_ = error_column_ = 0;
    const QString dir = path_.isEmpty() ? QString() : QFileInfo(path_).absolutePath();
    if (c->model != "demo") c->model = resolve(dir, c->model);
    c->workload.file = resolve(dir, c->workload.file);
    c->source = path_.toStdString();
    const auto points = experiment::expand_matrix(*c);
    QStringList labels;
    for (size_t i = 0; i < points.size() && i < 40; ++i) labels << qs(points[i].label());
    if (points.size() > 40) labels << tr("… and %1 more").arg(points.size() - 40);
    status_->setStyleSheet({});
    status_->setText(tr("Valid: \"%1\", %2 point(s) of %3 request(s) on model %4%5.")
                         .arg(qs(c->name))
                         .arg(points.size())
                         .arg(c->workload.file.empty() ? QString::number(c->workload.requests)
                                                       : tr("the workload file's"))
                         .arg(qs(c->model))
                         .arg(c->capacity.enabled ? tr(", then the capacity study") : QString()));
    status_->setToolTip(labels.join('\n'));
    out = std::move(*c);
  }
  mark_error_line();
  emit validated(out.has_value());
  return out;
}

QString ExperimentConfigEditor::status_text() const { return status_->text(); }

QString ExperimentConfigEditor::location() const {
  if (error_line_ <= 0) return {};
  return error_column_ > 0 ? tr("Line %1, column %2: ").arg(error_line_).arg(error_column_)
                           : tr("Line %1: ").arg(error_line_);
}

void ExperimentConfigEditor::mark_error_line() {
  QList<QTextEdit::ExtraSelection> marks;
  if (error_line_ > 0) {
    QTextBlock block = editor_->document()->findBlockByLineNumber(error_line_ - 1);
    if (block.isValid()) {
      QTextEdit::ExtraSelection s;
      s.format.setBackground(style::tint(style::bad_color(palette()), 60));
      s.format.setProperty(QTextFormat::FullWidthSelection, true);
      s.cursor = QTextCursor(block);
      marks << s;
    }
  }
  editor_->setExtraSelections(marks);
}

void ExperimentConfigEditor::open_dialog() {
  const QString start = path_.isEmpty() ? QDir::homePath() : QFileInfo(path_).path();
  const QString path = QFileDialog::getOpenFileName(this, tr("Open experiment configuration"),
                                                    start, tr("JSON (*.json);;All files (*)"));
  if (path.isEmpty()) return;
  if (const QString err = open_file(path); !err.isEmpty()) emit log_message(2, err);
}

void ExperimentConfigEditor::save_dialog() {
  const QString start = path_.isEmpty() ? QDir::homePath() + "/experiment.json" : path_;
  QString path = QFileDialog::getSaveFileName(this, tr("Save experiment configuration"), start,
                                              tr("JSON (*.json);;All files (*)"));
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += ".json";
  if (const QString err = save_file(path); !err.isEmpty()) emit log_message(2, err);
}

}  // namespace emoe::ui
