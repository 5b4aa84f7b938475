#include "ui/session_browser.h"

#include <QDialogButtonBox>
#include <QFileInfo>
#include <QHeaderView>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>
#include <algorithm>
#include <filesystem>
#include <limits>
#include <map>

#include "core/model/model.h"
#include "db/database.h"

namespace emoe::ui {
namespace {

QString qs(const std::string& s) { return QString::fromStdString(s); }

// The model's shape from the hparams JSON the recorder stored (n_layer, n_expert, name).
void read_model_row(const QString& db_path, int64_t model_id, SessionReview& r) {
  db::OpenOptions o;
  o.read_only = true;
  o.create = false;
  o.wal = false;
  auto db = db::Database::open(db_path.toStdString(), o);
  if (!db.ok()) return;
  auto st = (*db)->prepare("SELECT hparams FROM models WHERE id = ?1");
  if (!st.ok() || !st->bind_int(1, model_id).is_ok()) return;
  auto row = st->step();
  if (!row.ok() || !*row || st->column_is_null(0)) return;
  const QJsonObject o2 =
      QJsonDocument::fromJson(QByteArray::fromStdString(st->column_text(0))).object();
  r.n_layer = o2.value("n_layer").toInt();
  r.n_expert = o2.value("n_expert").toInt();
  r.model_name = o2.value("name").toString();
}

}  // namespace

Result<std::vector<db::SessionInfo>> list_recorded_sessions(const QString& db_path) {
  if (!QFileInfo::exists(db_path))
    return not_found("no history database at '" + db_path.toStdString() + "'");
  auto q = db::RoutingQueries::open(db_path.toStdString());
  if (!q.ok()) return q.status();
  return (*q)->list_sessions();
}

Result<SessionReview> load_session_review(const QString& db_path, int64_t session_id) {
  auto q = db::RoutingQueries::open(db_path.toStdString());
  if (!q.ok()) return q.status();
  SessionReview r;
  auto sessions = (*q)->list_sessions();
  if (!sessions.ok()) return sessions.status();
  const auto it = std::find_if(sessions->begin(), sessions->end(),
                               [&](const db::SessionInfo& s) { return s.id == session_id; });
  if (it == sessions->end()) {
    return not_found("session " + std::to_string(session_id) + " is not in '" +
                     db_path.toStdString() + "'");
  }
  r.info = *it;
  if (r.info.model_id) read_model_row(db_path, *r.info.model_id, r);
  if (r.model_name.isEmpty()) r.model_name = QFileInfo(qs(r.info.model_path)).fileName();

  auto requests = (*q)->session_requests(session_id);
  if (!requests.ok()) return requests.status();
  auto memory = (*q)->memory_samples(session_id);
  if (!memory.ok()) return memory.status();

  // Times are on the recorder's steady clock; show them relative to the session's start.
  int64_t t0 = std::numeric_limits<int64_t>::max();
  for (const auto& rq : *requests) {
    if (rq.arrival_us) t0 = std::min(t0, *rq.arrival_us);
  }
  for (const auto& m : *memory) t0 = std::min(t0, m.time_us);
  if (t0 == std::numeric_limits<int64_t>::max()) t0 = r.info.started_at_us;
  const auto secs = [t0](int64_t us) { return static_cast<double>(us - t0) / 1e6; };

  // Token pieces need the tokenizer; loading the model maps the file, reads no weights.
  std::unique_ptr<model::Model> model;
  if (!r.info.model_path.empty() && std::filesystem::exists(r.info.model_path)) {
    auto m = model::Model::load(r.info.model_path);
    if (m.ok()) model = std::move(m).value();
  }
  const auto piece = [&](int32_t id) -> std::string {
    if (model && id >= 0) return model->tokenizer().token_to_piece(id, false);
    return "<" + std::to_string(id) + ">";
  };

  // First pass: the shape, when the model row did not give it.
  std::vector<std::vector<db::TraceStep>> traces;
  traces.reserve(requests->size());
  int32_t max_layer = -1, max_expert = -1;
  for (const auto& rq : *requests) {
    auto t = (*q)->request_trace(rq.id);
    if (!t.ok()) return t.status();
    for (const db::TraceStep& s : *t) {
      max_layer = std::max(max_layer, s.layer);
      for (int32_t e : s.router_experts) max_expert = std::max(max_expert, e);
      for (int32_t e : s.used_experts) max_expert = std::max(max_expert, e);
    }
    traces.push_back(std::move(t).value());
  }
  r.n_layer = std::max(r.n_layer, max_layer + 1);
  r.n_expert = std::max(r.n_expert, max_expert + 1);
  const size_t cells = static_cast<size_t>(r.n_layer) * static_cast<size_t>(r.n_expert);

  for (size_t i = 0; i < requests->size(); ++i) {
    const db::RequestInfo& rq = (*requests)[i];
    CountDelta c;
    c.request_id = rq.id;
    c.task = rq.task.value_or("");
    c.used.assign(cells, 0);
    c.router.assign(cells, 0);
    std::string output;
    TokenTelemetry* tok = nullptr;
    const size_t first_token = r.tokens.size();
    for (const db::TraceStep& s : traces[i]) {
      const size_t row = static_cast<size_t>(s.layer) * static_cast<size_t>(r.n_expert);
      for (int32_t e : s.used_experts) {
        if (e >= 0) ++c.used[row + static_cast<size_t>(e)];
      }
      for (int32_t e : s.router_experts) {
        if (e >= 0) ++c.router[row + static_cast<size_t>(e)];
      }
      if (!tok || tok->pos != s.pos || tok->request_id != rq.id) {
        r.tokens.emplace_back();
        tok = &r.tokens.back();
        tok->request_id = rq.id;
        tok->pos = s.pos;
        tok->token_id = s.token_id;
        tok->piece = piece(s.token_id);
        tok->phase = s.phase == 1 ? engine::Phase::Decode : engine::Phase::Prefill;
      }
      LayerTrace lt;
      lt.layer = s.layer;
      lt.router_experts = s.router_experts;
      lt.router_weights = s.router_weights;
      lt.used_experts = s.used_experts;
      lt.used_weights = s.used_weights;
      // Residency per router expert is not stored; a router expert that was used counts as a
      // hit for display (exact and all routing use every router expert).
      for (int32_t e : s.router_experts) {
        lt.router_resident.push_back(std::find(s.used_experts.begin(), s.used_experts.end(), e) !=
                                     s.used_experts.end());
      }
      lt.used_loaded.assign(s.used_experts.size(), 0);
      tok->layers.push_back(std::move(lt));
    }
    // The dominant expert (largest used weight summed over layers) tints the token.
    for (auto t = r.tokens.begin() + static_cast<ptrdiff_t>(first_token); t != r.tokens.end();
         ++t) {
      std::map<int32_t, float> w;
      for (const LayerTrace& l : t->layers) {
        for (size_t j = 0; j < l.used_experts.size() && j < l.used_weights.size(); ++j) {
          w[l.used_experts[j]] += l.used_weights[j];
        }
      }
      float best = -1;
      for (const auto& [e, v] : w) {
        if (v > best) best = v, t->dominant_expert = e;
      }
      if (t->phase == engine::Phase::Decode) output += t->piece;
    }
    r.counts.push_back(std::move(c));

    RequestStats st;
    st.request_id = rq.id;
    st.task = rq.task.value_or("");
    st.prompt = rq.text.value_or("");
    st.output = output;
    st.slo_ttft_ms = rq.slo_ttft_ms;
    st.slo_e2e_ms = rq.slo_e2e_ms;
    st.prompt_tokens = rq.prompt_tokens.value_or(0);
    st.generated_tokens = rq.generated_tokens.value_or(0);
    if (rq.arrival_us) {
      st.arrival_s = secs(*rq.arrival_us);
      if (rq.first_token_us) st.ttft_ms = (*rq.first_token_us - *rq.arrival_us) / 1000.0;
      if (rq.finish_us) st.e2e_ms = (*rq.finish_us - *rq.arrival_us) / 1000.0;
    }
    if (rq.first_token_us && rq.finish_us && *rq.finish_us > *rq.first_token_us &&
        st.generated_tokens > 1) {
      st.decode_tok_s = static_cast<double>(st.generated_tokens - 1) /
                        (static_cast<double>(*rq.finish_us - *rq.first_token_us) / 1e6);
    }
    if (rq.arrival_us && rq.first_token_us && *rq.first_token_us > *rq.arrival_us) {
      st.prefill_tok_s = static_cast<double>(st.prompt_tokens) /
                         (static_cast<double>(*rq.first_token_us - *rq.arrival_us) / 1e6);
    }
    st.stop_reason = rq.finish_us ? "recorded" : "unfinished";
    r.requests.push_back(std::move(st));
  }

  for (const db::MemorySampleRow& m : *memory) {
    MemoryPoint p;
    p.time_s = secs(m.time_us);
    p.dense_bytes = static_cast<uint64_t>(std::max<int64_t>(m.dense, 0));
    p.expert_bytes = static_cast<uint64_t>(std::max<int64_t>(m.experts, 0));
    p.kv_bytes = static_cast<uint64_t>(std::max<int64_t>(m.kv, 0));
    p.expert_budget = static_cast<uint64_t>(std::max<int64_t>(m.budget, 0));
    r.memory.push_back(p);
  }
  for (int32_t kind : {static_cast<int32_t>(experts::ExpertEventKind::LoadFinished),
                       static_cast<int32_t>(experts::ExpertEventKind::Evicted)}) {
    auto ev = (*q)->expert_events(session_id, kind);
    if (!ev.ok()) return ev.status();
    for (const db::ExpertEventRow& e : *ev) {
      ExpertEventPoint p;
      p.time_s = secs(e.time_us);
      p.kind = static_cast<experts::ExpertEventKind>(e.kind);
      p.layer = e.layer;
      p.expert = e.expert;
      p.bytes = static_cast<uint64_t>(std::max<int64_t>(e.bytes, 0));
      r.events.push_back(p);
    }
  }
  std::stable_sort(r.events.begin(), r.events.end(),
                   [](const auto& a, const auto& b) { return a.time_s < b.time_s; });
  return r;
}

SessionBrowser::SessionBrowser(const QString& db_path, QWidget* parent)
    : QDialog(parent), db_path_(db_path) {
  setWindowTitle(tr("Open session"));
  setObjectName("sessionBrowser");
  resize(760, 420);
  auto* layout = new QVBoxLayout(this);
  auto* where = new QLabel(tr("Sessions recorded in %1").arg(db_path.toHtmlEscaped()), this);
  where->setWordWrap(true);
  layout->addWidget(where);
  table_ = new QTableWidget(this);
  table_->setColumnCount(5);
  table_->setHorizontalHeaderLabels(
      {tr("Session"), tr("Model"), tr("Requests"), tr("Tokens"), tr("Configuration")});
  table_->verticalHeader()->setVisible(false);
  table_->horizontalHeader()->setStretchLastSection(true);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setSelectionMode(QAbstractItemView::SingleSelection);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  layout->addWidget(table_, 1);
  status_ = new QLabel(this);
  status_->setWordWrap(true);
  layout->addWidget(status_);
  auto* buttons = new QDialogButtonBox(this);
  open_ = buttons->addButton(tr("Open for review"), QDialogButtonBox::AcceptRole);
  auto* refresh_button = buttons->addButton(tr("Refresh"), QDialogButtonBox::ActionRole);
  buttons->addButton(QDialogButtonBox::Close);
  layout->addWidget(buttons);
  open_->setEnabled(false);

  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(open_, &QPushButton::clicked, this, &SessionBrowser::open_selected);
  connect(refresh_button, &QPushButton::clicked, this, &SessionBrowser::refresh);
  connect(table_, &QTableWidget::itemSelectionChanged, this,
          [this] { open_->setEnabled(!table_->selectedItems().isEmpty()); });
  connect(table_, &QTableWidget::cellDoubleClicked, this, [this] { open_selected(); });

  connect(&list_watcher_, &QFutureWatcher<Listing>::finished, this, [this] {
    Listing l = list_watcher_.result();
    if (!l.error.isEmpty()) {
      status_->setText(l.error);
      emit failed(l.error);
      return;
    }
    sessions_ = std::move(l.sessions);
    std::sort(sessions_.begin(), sessions_.end(),
              [](const auto& a, const auto& b) { return a.id > b.id; });  // newest first
    table_->setRowCount(static_cast<int>(sessions_.size()));
    for (size_t i = 0; i < sessions_.size(); ++i) {
      const db::SessionInfo& s = sessions_[i];
      const int row = static_cast<int>(i);
      auto* id = new QTableWidgetItem(QString::number(s.id));
      id->setData(Qt::UserRole, QVariant::fromValue<qlonglong>(s.id));
      table_->setItem(row, 0, id);
      auto* model = new QTableWidgetItem(QFileInfo(qs(s.model_path)).fileName());
      model->setToolTip(qs(s.model_path));
      table_->setItem(row, 1, model);
      table_->setItem(row, 2, new QTableWidgetItem(QString::number(s.request_count)));
      table_->setItem(row, 3, new QTableWidgetItem(QString::number(s.token_count)));
      table_->setItem(row, 4, new QTableWidgetItem(qs(s.config_json)));
    }
    table_->resizeColumnsToContents();
    if (!sessions_.empty()) table_->selectRow(0);
    status_->setText(tr("%n session(s)", nullptr, static_cast<int>(sessions_.size())));
    emit sessions_listed(static_cast<int>(sessions_.size()));
  });
  connect(&load_watcher_, &QFutureWatcher<Loaded>::finished, this, [this] {
    Loaded l = load_watcher_.result();
    open_->setEnabled(true);
    if (!l.error.isEmpty()) {
      status_->setText(l.error);
      emit failed(l.error);
      return;
    }
    status_->setText(tr("Session %1 loaded.").arg(l.review.info.id));
    emit review_loaded(l.review);
    accept();
  });
  refresh();
}

SessionBrowser::~SessionBrowser() {
  list_watcher_.waitForFinished();
  load_watcher_.waitForFinished();
}

void SessionBrowser::refresh() {
  if (list_watcher_.isRunning()) return;
  status_->setText(tr("Reading sessions…"));
  const QString path = db_path_;
  list_watcher_.setFuture(QtConcurrent::run([path] {
    Listing l;
    auto r = list_recorded_sessions(path);
    if (r.ok()) {
      l.sessions = std::move(r).value();
    } else {
      l.error = qs(r.status().message());
    }
    return l;
  }));
}

void SessionBrowser::open_session(int64_t id) {
  if (load_watcher_.isRunning()) return;
  open_->setEnabled(false);
  status_->setText(tr("Reading session %1…").arg(id));
  const QString path = db_path_;
  load_watcher_.setFuture(QtConcurrent::run([path, id] {
    Loaded l;
    auto r = load_session_review(path, id);
    if (r.ok()) {
      l.review = std::move(r).value();
    } else {
      l.error = qs(r.status().message());
    }
    return l;
  }));
}

void SessionBrowser::open_selected() {
  const auto rows = table_->selectionModel()->selectedRows();
  if (rows.isEmpty()) return;
  open_session(table_->item(rows.first().row(), 0)->data(Qt::UserRole).toLongLong());
}

QString SessionBrowser::status_text() const { return status_->text(); }

}  // namespace emoe::ui
