// File > Open session: lists the sessions recorded in the history database and reads the
// chosen one back (counts, requests, memory samples, paging events and token traces) so the
// views can replay it for review. Every database read runs on a worker thread (QtConcurrent +
// QFutureWatcher); the dialog never blocks the GUI thread.
#pragma once

#include <QDialog>
#include <QFutureWatcher>
#include <QString>
#include <cstdint>
#include <vector>

#include "core/common/status.h"
#include "db/routing_queries.h"
#include "ui/telemetry.h"

class QLabel;
class QPushButton;
class QTableWidget;

namespace emoe::ui {

// A recorded session as plain values, ready for the views (times in seconds since the
// session's first arrival or sample).
struct SessionReview {
  db::SessionInfo info;
  QString model_name;
  int32_t n_layer = 0, n_expert = 0;
  std::vector<CountDelta> counts;      // one per request (task, used and router counts)
  std::vector<RequestStats> requests;  // by request id
  std::vector<TokenTelemetry> tokens;  // every recorded position of every request, in order
  std::vector<MemoryPoint> memory;
  std::vector<ExpertEventPoint> events;  // loads finished and evictions
};

// Reads one session (thread-safe: opens its own connections). Token pieces come from the
// model's tokenizer when the model file is still there, else "<id>".
Result<SessionReview> load_session_review(const QString& db_path, int64_t session_id);
Result<std::vector<db::SessionInfo>> list_recorded_sessions(const QString& db_path);

class SessionBrowser : public QDialog {
  Q_OBJECT

 public:
  explicit SessionBrowser(const QString& db_path, QWidget* parent = nullptr);
  ~SessionBrowser() override;

  void refresh();                 // lists the sessions again (asynchronous)
  void open_session(int64_t id);  // loads it (asynchronous), then emits review_loaded
  const std::vector<db::SessionInfo>& sessions() const { return sessions_; }
  QTableWidget* table() const { return table_; }
  QString status_text() const;

 signals:
  void sessions_listed(int count);
  void review_loaded(const emoe::ui::SessionReview& review);
  void failed(const QString& message);

 private:
  void open_selected();

  QString db_path_;
  QTableWidget* table_ = nullptr;
  QLabel* status_ = nullptr;
  QPushButton* open_ = nullptr;
  // Futures carry default-constructible values: the result, or the error text.
  struct Listing {
    std::vector<db::SessionInfo> sessions;
    QString error;
  };
  struct Loaded {
    SessionReview review;
    QString error;
  };
  QFutureWatcher<Listing> list_watcher_;
  QFutureWatcher<Loaded> load_watcher_;
  std::vector<db::SessionInfo> sessions_;
};

}  // namespace emoe::ui

Q_DECLARE_METATYPE(emoe::ui::SessionReview)
