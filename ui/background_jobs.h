// The workbench's one-shot jobs that run off the GUI thread (DESIGN section 7): generating the
// demo model (with progress and cancel), writing a report whose plots were rendered on the GUI
// thread beforehand, and exporting a recorded session from the database. Each job reports once
// through a signal; a job of a kind that is already running is refused (returns false).
#pragma once

#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <atomic>
#include <memory>

#include "ui/report_export.h"

namespace emoe::ui {

class BackgroundJobs : public QObject {
  Q_OBJECT

 public:
  explicit BackgroundJobs(QObject* parent = nullptr);
  ~BackgroundJobs() override;  // cancels the demo job and waits for every job

  // Writes dir/demo.gguf unless a valid one is there; demo_ready or demo_failed follows.
  bool generate_demo_model(const QString& dir);
  void cancel_demo_model();
  bool write_report(const ReportContent& report, const QString& html_path, const QString& pdf_path);
  bool export_session(const QString& db_path, qint64 session_id, const QString& path, bool csv);

 signals:
  void demo_progress(double fraction);
  void demo_ready(const QString& path);
  void demo_failed(const QString& message);
  void report_written(const QString& error);    // empty on success
  void session_exported(const QString& error);  // empty on success

 private:
  std::shared_ptr<std::atomic<bool>> demo_cancel_;
  QFutureWatcher<QString> demo_;     // the path, or "error:" + message
  QFutureWatcher<QString> report_;   // the error, or empty
  QFutureWatcher<QString> session_;  // the error, or empty
};

}  // namespace emoe::ui
