// The Experiment dock's configuration editor: the JSON of an experiment configuration
// (docs/EXPERIMENTS.md) in a text editor with Open…, Save… and "Load demo configuration", checked
// as it is typed by parse_experiment_config. An error shows its message (which names the line
// and the field) under the editor and marks that line; a valid configuration shows the matrix
// it expands to. Relative paths in it resolve against the file's directory, as the CLI does.
#pragma once

#include <QString>
#include <QWidget>
#include <optional>

#include "core/experiment/experiment_config.h"

class QLabel;
class QPlainTextEdit;
class QPushButton;
class QTimer;

namespace emoe::ui {

class ExperimentConfigEditor : public QWidget {
  Q_OBJECT

 public:
  explicit ExperimentConfigEditor(QWidget* parent = nullptr);

  // Replaces the text; `path` is the file it belongs to (empty: none).
  void set_text(const QString& text, const QString& path = {});
  QString text() const;
  QString path() const { return path_; }

  // Small files read and written on the GUI thread (a configuration is a few KB; larger files
  // are refused before reading). Each returns an empty string or the error.
  QString open_file(const QString& path);
  QString save_file(const QString& path);
  // The built-in demo configuration (resources/experiments/demo.json, compiled in).
  void load_demo();

  // Parses the text now; the configuration with its paths resolved, or nullopt (error() says
  // why).
  std::optional<experiment::ExperimentConfig> validate();
  QString error() const { return error_; }            // as the parser said it: "source:LINE: ..."
  int error_line() const { return error_line_; }      // 0: none or unknown
  int error_column() const { return error_column_; }  // malformed JSON only; else 0
  QString error_detail() const { return error_detail_; }  // the error without its location
  QString location() const;  // "Line 7: ", "Line 7, column 3: " or empty
  QString status_text() const;
  QPlainTextEdit* editor() const { return editor_; }

 signals:
  void validated(bool ok);
  void log_message(int level, const QString& message);

 private:
  void open_dialog();
  void save_dialog();
  void mark_error_line();

  QPlainTextEdit* editor_ = nullptr;
  QLabel* status_ = nullptr;
  QTimer* debounce_ = nullptr;
  QString path_;
  QString error_, error_detail_;
  int error_line_ = 0, error_column_ = 0;
};

}  // namespace emoe::ui
