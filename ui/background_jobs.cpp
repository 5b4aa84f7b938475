#include "ui/background_jobs.h"

#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

#include "core/model/demo_model.h"
#include "db/database.h"
#include "db/session_export.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

BackgroundJobs::BackgroundJobs(QObject* parent) : QObject(parent) {
  connect(&demo_, &QFutureWatcher<QString>::finished, this, [this] {
    const QString r = demo_.result();
    if (r.startsWith("error:")) {
      emit demo_failed(r.mid(6));
    } else {
      emit demo_ready(r);
    }
  });
  connect(&report_, &QFutureWatcher<QString>::finished, this,
          [this] { emit report_written(report_.result()); });
  connect(&session_, &QFutureWatcher<QString>::finished, this,
          [this] { emit session_exported(session_.result()); });
}

BackgroundJobs::~BackgroundJobs() {
  cancel_demo_model();
  demo_.waitForFinished();
  report_.waitForFinished();
  session_.waitForFinished();
}

bool BackgroundJobs::generate_demo_model(const QString& dir) {
  if (demo_.isRunning()) return false;
  demo_cancel_ = std::make_shared<std::atomic<bool>>(false);
  auto cancel = demo_cancel_;
  QPointer<BackgroundJobs> self = this;
  demo_.setFuture(QtConcurrent::run([dir, cancel, self]() -> QString {
    auto r = model::ensure_demo_model(dir.toStdString(), [&](double f) {
      QMetaObject::invokeMethod(
          self,
          [self, f] {
            if (self) emit self->demo_progress(f);
          },
          Qt::QueuedConnection);
      return !cancel->load();
    });
    return r.ok() ? qs(*r) : "error:" + qs(r.status().message());
  }));
  return true;
}

void BackgroundJobs::cancel_demo_model() {
  if (demo_cancel_) demo_cancel_->store(true);
}

bool BackgroundJobs::write_report(const ReportContent& report, const QString& html_path,
                                  const QString& pdf_path) {
  if (report_.isRunning()) return false;
  report_.setFuture(QtConcurrent::run([report, html_path, pdf_path]() -> QString {
    QString err = write_report_html(report, html_path);
    if (err.isEmpty() && !pdf_path.isEmpty()) err = write_report_pdf(report, pdf_path);
    return err;
  }));
  return true;
}

bool BackgroundJobs::export_session(const QString& db_path, qint64 session_id, const QString& path,
                                    bool csv) {
  if (session_.isRunning()) return false;
  session_.setFuture(QtConcurrent::run([db_path, session_id, path, csv]() -> QString {
    db::OpenOptions o;
    o.read_only = true;
    o.create = false;
    auto db = db::Database::open(db_path.toStdString(), o);
    if (!db.ok()) return qs(db.status().message());
    auto r = db::export_session(
        **db, session_id, csv ? db::ExportFormat::Csv : db::ExportFormat::Json, path.toStdString());
    return r.ok() ? QString() : qs(r.status().message());
  }));
  return true;
}

}  // namespace emoe::ui
