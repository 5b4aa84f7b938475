// The Sensitivity dock: task x layer sensitivity s of the open model as stored in the history
// database (db/model_profiles.h; the matrix is read on the engine thread), with "Profile
// sensitivity…", which runs core/predict/sensitivity_profiler over the built-in prompts on the
// engine thread with progress and cancel, stores the result and shows it.
#pragma once

#include <QWidget>

#include "ui/engine_controller.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QTableWidget;

namespace emoe::ui {

class SensitivityView : public QWidget {
  Q_OBJECT

 public:
  explicit SensitivityView(QWidget* parent = nullptr);

  void show_matrix(const SensitivityMatrix& matrix);
  void show_progress(double fraction, const QString& stage);
  void show_failed(const QString& message);
  void set_model_open(bool open);

  const SensitivityMatrix& matrix() const { return matrix_; }
  QTableWidget* table() const { return table_; }
  QPushButton* profile_button() const { return profile_; }
  QPushButton* cancel_button() const { return cancel_; }
  QString note_text() const;

 signals:
  void refresh_requested();
  void profile_requested();
  void cancel_requested();

 private:
  QLabel* note_ = nullptr;
  QTableWidget* table_ = nullptr;
  QPushButton* refresh_ = nullptr;
  QPushButton* profile_ = nullptr;
  QPushButton* cancel_ = nullptr;
  QProgressBar* progress_ = nullptr;
  SensitivityMatrix matrix_;
  bool running_ = false;
};

}  // namespace emoe::ui
