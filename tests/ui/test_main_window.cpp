// The workbench's acceptance, offscreen: the main window on the generated demo model, a prompt
// through the console against an independent routing capture of the same prompt (core engine +
// a ForwardObserver written here), the database read back with RoutingQueries, settings that
// change the next request, token tracing against `emoe trace --json`, errors that leave the
// window usable, exports, dock names, layout reset and persisted settings.
#include <qcustomplot.h>

#include <QComboBox>
#include <QDockWidget>
#include <QFile>
#include <QImage>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProcess>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSlider>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <memory>

#include "core/engine/engine.h"
#include "core/engine/generator.h"
#include "core/experts/expert_store.h"
#include "core/experts/memory_plan.h"
#include "core/model/demo_model.h"
#include "core/model/model.h"
#include "db/routing_queries.h"
#include "ui/controls_panel.h"
#include "ui/expert_heatmap_view.h"
#include "ui/latency_plot_view.h"
#include "ui/log_dock.h"
#include "ui/main_window.h"
#include "ui/memory_plot_view.h"
#include "ui/model_dock.h"
#include "ui/prompt_console.h"
#include "ui/recent_files.h"
#include "ui/session_browser.h"
#include "ui/studio_paths.h"
#include "ui/token_trace_view.h"
#include "ui/view_style.h"

using namespace emoe;
using ui::MainWindow;

namespace {

constexpr int kWaitMs = 60000;
const QString kPrompt = QStringLiteral("Summarize: the experts of a mixture of experts model.");
constexpr int kMaxTokens = 12;

// Independent routing capture: counts of used and router experts per layer x expert.
class Capture : public engine::ForwardObserver {
 public:
  Capture(int32_t n_layer, int32_t n_expert)
      : n_expert_(n_expert),
        used(static_cast<size_t>(n_layer * n_expert)),
        router(static_cast<size_t>(n_layer * n_expert)) {}
  void on_routing(const engine::RoutingEvent& ev) override {
    for (int32_t e : ev.used) ++used[static_cast<size_t>(ev.layer * n_expert_ + e)];
    for (int32_t e : ev.topk) ++router[static_cast<size_t>(ev.layer * n_expert_ + e)];
  }
  int32_t n_expert_;
  std::vector<int64_t> used, router;
};

QByteArray read_all(const QString& path) {
  QFile f(path);
  return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

bool write_file(const QString& path, const QByteArray& bytes) {
  QFile f(path);
  return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

}  // namespace

class TestMainWindow : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  std::unique_ptr<MainWindow> w_;
  QString demo_;
  QString db_path_;
  std::vector<ui::TokenTelemetry> all_mode_tokens_;  // the first request, routing "all"
  ui::RequestStats last_;

  std::unique_ptr<MainWindow> make_window() {
    ui::MainWindowOptions o;
    o.db_path = db_path_;
    auto w = std::make_unique<MainWindow>(o);
    w->show();
    return w;
  }

  // Runs a prompt through the console and waits until its telemetry has been drained into
  // the views (the latency view holds the finished request).
  void run_prompt(const QString& text, int max_tokens) {
    w_->console()->findChild<QSpinBox*>("max_tokens")->setValue(max_tokens);
    QSignalSpy done(w_->controller(), &ui::EngineController::request_finished);
    w_->console()->set_input_text(text);
    w_->console()->send();
    QVERIFY(done.wait(kWaitMs));
    last_ = done.takeFirst().at(0).value<ui::RequestStats>();
    QVERIFY2(last_.error.empty(), last_.error.c_str());
    const int64_t id = last_.request_id;
    QTRY_VERIFY_WITH_TIMEOUT(!w_->latency_view()->requests().empty() &&
                                 w_->latency_view()->requests().back().request_id == id &&
                                 w_->console_backlog() == 0,
                             10000);
    QVERIFY(last_.generated_tokens > 0);
  }

  void wait_model() {
    if (w_->model() && !w_->controller()->busy()) return;
    QSignalSpy ready(w_.get(), &MainWindow::model_ready);
    QVERIFY(ready.wait(kWaitMs));
  }

  ui::EngineReport apply(engine::RoutingMode mode, int percent) {
    QSignalSpy applied(w_->controller(), &ui::EngineController::settings_applied);
    ui::ControlsPanel* c = w_->controls();
    c->routing_combo()->setCurrentIndex(c->routing_combo()->findData(static_cast<int>(mode)));
    c->budget_slider()->setValue(percent);  // debounced
    if (applied.isEmpty() && w_->engine_report() &&
        w_->engine_report()->settings == c->settings()) {
      QTest::qWait(300);  // nothing changed, unless the debounced slider still fires
      if (applied.isEmpty()) return *w_->engine_report();
    }
    ui::EngineReport r;
    // Several reports may arrive (combo, then slider); wait for the one with both.
    for (int i = 0; i < 4; ++i) {
      if (applied.isEmpty() && !applied.wait(kWaitMs)) break;
      r = applied.takeFirst().at(0).value<ui::EngineReport>();
      if (r.settings == c->settings()) break;
    }
    return r;
  }

 private slots:
  void initTestCase() {
    QVERIFY(tmp_.isValid());
    // Everything the app writes (data dir, settings) goes under the temporary directory.
    qputenv("HOME", tmp_.path().toUtf8());
    qputenv("XDG_DATA_HOME", (tmp_.path() + "/data").toUtf8());
    qputenv("XDG_CONFIG_HOME", (tmp_.path() + "/config").toUtf8());
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(ui::kSettingsOrganisation);
    QCoreApplication::setApplicationName(ui::kSettingsApplication);
    QVERIFY(ui::StudioPaths::data_dir().startsWith(tmp_.path()));
    db_path_ = tmp_.path() + "/history.db";

    w_ = make_window();
    QSignalSpy ready(w_.get(), &MainWindow::model_ready);
    QSignalSpy progress(w_->controller(), &ui::EngineController::load_progress);
    w_->open_demo_model();
    QVERIFY(ready.wait(kWaitMs));
    demo_ = w_->model()->path;
    QCOMPARE(demo_, ui::StudioPaths::demo_model_dir() + "/" + model::kDemoModelFileName);
    QCOMPARE(w_->model()->name, QString(model::kDemoModelName));
    QVERIFY(progress.count() > 0);
    QVERIFY(w_->recent_files()->files().contains(demo_));
    QTRY_VERIFY_WITH_TIMEOUT(w_->session_id() > 0, 10000);
  }

  void inspector_shows_model_and_estimate() {
    auto m = model::Model::load(demo_.toStdString());
    QVERIFY(m.ok());
    const model::ModelConfig& c = (*m)->config();
    const experts::ExpertStore store(c, (*m)->weights());
    ui::ModelDock* dock = w_->model_dock();
    QVERIFY(dock->metadata_table()->rowCount() > 10);
    QCOMPARE(dock->tensor_proxy()->rowCount(), static_cast<int>((*m)->file().tensors().size()));
    dock->tensor_search()->setText("ffn_gate_exps");
    QCOMPARE(dock->tensor_proxy()->rowCount(), static_cast<int>(c.n_layer));
    dock->tensor_search()->clear();
    // Per-expert sizes against the host tier's layout.
    QCOMPARE(dock->expert_table()->rowCount(), static_cast<int>(c.n_layer));
    const auto sizes = ui::expert_sizes(*dock->summary());
    for (int32_t l = 0; l < c.n_layer; ++l) {
      QCOMPARE(sizes[static_cast<size_t>(l)].bytes_per_expert, store.layout(l).total);
    }
    QCOMPARE(ui::minimum_expert_budget(*dock->summary()),
             experts::ExpertCache::minimum_budget(store));
    // The estimate shown equals plan_memory on the loaded model for the same budget.
    for (int pct : {100, 50, 10}) {
      w_->controls()->budget_slider()->setValue(pct);
      QTRY_COMPARE(
          dock->estimate().expert_bytes,
          std::max(static_cast<uint64_t>(static_cast<double>(store.total_bytes()) * pct / 100.0),
                   experts::ExpertCache::minimum_budget(store)));
      experts::MemoryPlanOptions o;
      o.expert_budget =
          static_cast<uint64_t>(static_cast<double>(store.total_bytes()) * pct / 100.0);
      o.expert_budget = std::max(o.expert_budget, experts::ExpertCache::minimum_budget(store));
      auto plan = experts::plan_memory(c, (*m)->weights(), store, o);
      QVERIFY(plan.ok());
      const ui::MemoryEstimate& e = dock->estimate();
      QCOMPARE(e.dense_bytes, plan->dense_bytes);
      QCOMPARE(e.expert_bytes, plan->expert_bytes);
      QCOMPARE(e.scratch_bytes, plan->scratch_bytes);
      QCOMPARE(e.kv_bytes, plan->kv_bytes);
      QCOMPARE(e.max_context, plan->max_context);
      QVERIFY(dock->estimate_text().contains(QString::number(plan->max_context)));
    }
    w_->controls()->budget_slider()->setValue(100);
  }

  void prompt_fills_views_like_an_independent_capture() {
    const ui::EngineReport r = apply(engine::RoutingMode::All, 100);
    QCOMPARE(r.settings.mode, engine::RoutingMode::All);
    run_prompt(kPrompt, kMaxTokens);
    if (QTest::currentTestFailed()) return;
    all_mode_tokens_ = w_->request_tokens();

    auto m = model::Model::load(demo_.toStdString());
    QVERIFY(m.ok());
    const auto& c = (*m)->config();
    Capture cap(static_cast<int32_t>(c.n_layer), static_cast<int32_t>(c.n_expert));
    auto eng = engine::Engine::create(**m, engine::EngineOptions{});
    QVERIFY(eng.ok());
    auto seq = (*eng)->new_sequence();
    QVERIFY(seq.ok());
    (*eng)->add_observer(&cap);
    const std::vector<int32_t> prompt =
        (*m)->tokenizer().encode(kPrompt.toStdString(), true, false);
    engine::GenerateOptions g;
    g.max_new_tokens = kMaxTokens;
    auto gen = engine::generate(**eng, *seq, prompt, g);
    QVERIFY(gen.ok());

    // Tokens: the console streamed exactly the generated tokens.
    QCOMPARE(last_.generated_tokens, static_cast<int64_t>(gen->generated.size()));
    std::vector<int32_t> shown;
    for (const auto& t : w_->console()->tokens()) shown.push_back(t.token_id);
    QCOMPARE(shown, gen->generated);
    // Heatmap: exactly the capture's used-expert counts.
    QCOMPARE(w_->heatmap()->counts(ui::ExpertHeatmapView::Scope::Request), cap.used);
    // Memory plot has samples; latency plot has the request.
    QVERIFY(!w_->memory_view()->points().empty());
    QCOMPARE(w_->latency_view()->requests().back().generated_tokens, last_.generated_tokens);

    // The session is in the database with the same counts.
    auto q = db::RoutingQueries::open(db_path_.toStdString());
    QVERIFY2(q.ok(), q.status().message().c_str());
    auto sessions = (*q)->list_sessions();
    QVERIFY(sessions.ok());
    QVERIFY(std::any_of(sessions->begin(), sessions->end(),
                        [&](const db::SessionInfo& s) { return s.id == w_->session_id(); }));
    auto requests = (*q)->session_requests(w_->session_id());
    QVERIFY(requests.ok() && !requests->empty());
    QCOMPARE(QString::fromStdString(requests->back().text.value_or("")), kPrompt);
    db::RoutingFilter f;
    f.request_id = requests->back().id;
    auto counts = (*q)->expert_counts(f);
    QVERIFY(counts.ok());
    std::vector<int64_t> from_db(cap.used.size());
    for (const db::ExpertCount& e : *counts) {
      from_db[static_cast<size_t>(e.layer * c.n_expert + e.expert)] = e.count;
    }
    QCOMPARE(from_db, cap.used);
  }

  void settings_change_the_next_request() {
    QSignalSpy reloaded(w_->controller(), &ui::EngineController::model_loaded);
    const ui::EngineReport r = apply(engine::RoutingMode::Fallback, 25);
    QCOMPARE(r.settings.mode, engine::RoutingMode::Fallback);
    QCOMPARE(r.settings.budget_percent, 25.0);
    QVERIFY(r.expert_budget_bytes > 0);
    QVERIFY(r.expert_budget_bytes <=
            std::max<uint64_t>(r.all_expert_bytes / 4 + 1, r.min_budget_bytes));
    QVERIFY(w_->controls()->report_text().contains("fallback"));
    QVERIFY(w_->controls()->budget_slider()->value() == 25);

    const size_t points_before = w_->memory_view()->points().size();
    run_prompt(kPrompt, kMaxTokens);
    if (QTest::currentTestFailed()) return;
    QCOMPARE(reloaded.count(), 0);  // applied without reloading the model
    int substituted = 0, layers = 0;
    for (const ui::TokenTelemetry& t : w_->request_tokens()) {
      for (const ui::LayerTrace& l : t.layers) {
        ++layers;
        if (l.used_experts != l.router_experts) ++substituted;
      }
    }
    QVERIFY(layers > 0);
    QVERIFY2(substituted > 0, "fallback at 25% never substituted an expert");
    // Memory samples of this request never exceed the budget.
    const auto& pts = w_->memory_view()->points();
    QVERIFY(pts.size() > points_before);
    for (size_t i = points_before; i < pts.size(); ++i) {
      QCOMPARE(pts[i].expert_budget, r.expert_budget_bytes);
      QVERIFY(pts[i].expert_bytes <= pts[i].expert_budget);
    }
    // The heatmap's residency overlay: fallback computes with resident experts only, and its
    // full tier never changes, so every expert the last token used is marked resident.
    QCPGraph* overlay = w_->heatmap()->plot()->graph(0);
    QCOMPARE(overlay->name(), QString("resident"));
    QTRY_VERIFY_WITH_TIMEOUT(overlay->visible() && !overlay->data()->isEmpty(), 10000);
    const ui::TokenTelemetry* last_routed = nullptr;
    for (const ui::TokenTelemetry& t : w_->request_tokens()) {
      if (!t.layers.empty()) last_routed = &t;
    }
    QVERIFY(last_routed);
    for (const ui::LayerTrace& l : last_routed->layers) {
      for (int32_t e : l.used_experts) {
        const QString tip = w_->heatmap()->cell_tooltip(l.layer, e);
        QVERIFY2(tip.contains("resident: yes"), qPrintable(tip));
      }
    }
    // Without a device tier there is no overlay.
    apply(engine::RoutingMode::All, 100);
    QTRY_VERIFY_WITH_TIMEOUT(!overlay->visible(), 10000);
    QVERIFY(!w_->heatmap()->cell_tooltip(0, 0).contains("resident"));
  }

  void token_trace_matches_the_cli() {
    QVERIFY(!all_mode_tokens_.empty());
    QVERIFY2(QFile::exists(EMOE_CLI_PATH), "build the emoe CLI first");
    QProcess p;
    p.start(EMOE_CLI_PATH, {"trace", "--model", demo_, "--prompt", kPrompt, "--n-predict",
                            QString::number(kMaxTokens - 1), "--json"});
    QVERIFY(p.waitForFinished(kWaitMs));
    QCOMPARE(p.exitCode(), 0);
    const QJsonObject cli = QJsonDocument::fromJson(p.readAllStandardOutput()).object();
    std::map<int, QJsonObject> positions;
    for (const QJsonValue v : cli["positions"].toArray()) {
      positions[v.toObject()["pos"].toInt()] = v.toObject();
    }
    const auto same = [](const QJsonArray& a, const auto& b, double tol) {
      if (a.size() != static_cast<qsizetype>(b.size())) return false;
      for (qsizetype i = 0; i < a.size(); ++i) {
        if (std::abs(a[i].toDouble() - static_cast<double>(b[static_cast<size_t>(i)])) > tol) {
          return false;
        }
      }
      return true;
    };
    const auto check = [&](const ui::TokenTelemetry& t) {
      const QJsonObject pos = positions[t.pos];
      if (pos.isEmpty() || pos["token"].toInt() != t.token_id) return false;
      const QJsonArray layers = pos["layers"].toArray();
      if (layers.size() != static_cast<qsizetype>(t.layers.size())) return false;
      for (size_t i = 0; i < t.layers.size(); ++i) {
        const QJsonObject l = layers[static_cast<qsizetype>(i)].toObject();
        const ui::LayerTrace& g = t.layers[i];
        if (l["layer"].toInt() != g.layer || !same(l["topk"].toArray(), g.router_experts, 0) ||
            !same(l["weights"].toArray(), g.router_weights, 1e-5) ||
            !same(l["used"].toArray(), g.used_experts, 0) ||
            !same(l["used_weights"].toArray(), g.used_weights, 1e-5)) {
          return false;
        }
      }
      return true;
    };
    int routed = 0;
    for (const ui::TokenTelemetry& t : all_mode_tokens_) {
      if (t.layers.empty()) continue;  // the last generated token is never fed back
      ++routed;
      QVERIFY2(check(t), qPrintable(QString("position %1 differs from emoe trace").arg(t.pos)));
    }
    QCOMPARE(routed, static_cast<int>(positions.size()));

    // The trace view shows the selected token: pick a generated token of an "all" request.
    run_prompt(kPrompt, kMaxTokens);
    if (QTest::currentTestFailed()) return;
    ui::PromptConsole* console = w_->console();
    const int first =
        static_cast<int>(console->tokens().size()) - static_cast<int>(last_.generated_tokens);
    console->select_token(first + 1);
    QVERIFY(w_->trace_view()->shown().has_value());
    const ui::TokenTelemetry& shown = *w_->trace_view()->shown();
    QCOMPARE(shown.pos, console->tokens()[static_cast<size_t>(first + 1)].pos);
    QVERIFY(check(shown));
    QCOMPARE(w_->trace_view()->table()->rowCount(), static_cast<int>(shown.layers.size()));
  }

  void session_reopens_from_the_database() {
    const qint64 id = w_->session_id();
    QSignalSpy shown(w_.get(), &MainWindow::review_shown);
    w_->open_session_browser();
    auto* browser = w_->findChild<ui::SessionBrowser*>();
    QVERIFY(browser);
    QTRY_VERIFY_WITH_TIMEOUT(!browser->sessions().empty(), 10000);
    browser->open_session(id);
    QVERIFY(shown.wait(kWaitMs));
    QVERIFY(w_->reviewing());

    auto q = db::RoutingQueries::open(db_path_.toStdString());
    QVERIFY(q.ok());
    db::RoutingFilter f;
    f.session_id = id;
    auto counts = (*q)->expert_counts(f);
    QVERIFY(counts.ok());
    const int32_t n_expert = w_->model()->n_expert;
    std::vector<int64_t> expect(static_cast<size_t>(w_->model()->n_layer * n_expert));
    for (const db::ExpertCount& e : *counts) {
      expect[static_cast<size_t>(e.layer * n_expert + e.expert)] = e.count;
    }
    QCOMPARE(w_->heatmap()->counts(ui::ExpertHeatmapView::Scope::Session), expect);
    auto requests = (*q)->session_requests(id);
    auto samples = (*q)->memory_samples(id);
    QVERIFY(requests.ok() && samples.ok());
    QCOMPARE(w_->latency_view()->requests().size(), requests->size());
    QCOMPARE(w_->memory_view()->points().size(), samples->size());
    QVERIFY(w_->trace_view()->shown().has_value());
    QVERIFY(!w_->console()->tokens().empty());

    // A new prompt leaves the review and shows live data again.
    run_prompt(kPrompt, 4);
    if (QTest::currentTestFailed()) return;
    QVERIFY(!w_->reviewing());
  }

  void exports_plots_report_and_session() {
    for (const QString& id : QStringList{"heatmap", "memory", "latency"}) {
      for (const QString& ext : QStringList{"png", "svg", "pdf"}) {
        const QString path = tmp_.path() + "/" + id + "." + ext;
        QCOMPARE(w_->export_plot(id, path), QString());
        const QByteArray bytes = read_all(path);
        QVERIFY2(bytes.size() > 200, qPrintable(path));
        if (ext == "png") QVERIFY(!QImage(path).isNull());
        if (ext == "svg") QVERIFY(bytes.contains("<svg"));
        if (ext == "pdf") QVERIFY(bytes.startsWith("%PDF"));
      }
    }
    QSignalSpy reported(w_.get(), &MainWindow::report_exported);
    const QString html = tmp_.path() + "/report.html", pdf = tmp_.path() + "/report.pdf";
    w_->export_report(html, pdf);
    QVERIFY(reported.wait(kWaitMs));
    QCOMPARE(reported.takeFirst().at(0).toString(), QString());
    const QByteArray h = read_all(html);
    QCOMPARE(h.count("data:image/png;base64,"), 3);
    QVERIFY(h.contains("Expert heatmap") && h.contains("Requests"));
    const QByteArray p = read_all(pdf);
    QVERIFY(p.startsWith("%PDF") && p.size() > 10000);

    QSignalSpy exported(w_.get(), &MainWindow::session_exported);
    w_->export_session(tmp_.path() + "/session.json", false);
    QVERIFY(exported.wait(kWaitMs));
    QCOMPARE(exported.takeFirst().at(0).toString(), QString());
    QJsonParseError err;
    QJsonDocument::fromJson(read_all(tmp_.path() + "/session.json"), &err);
    QCOMPARE(err.error, QJsonParseError::NoError);
    w_->export_session(tmp_.path() + "/session_csv", true);
    QVERIFY(exported.wait(kWaitMs));
    QCOMPARE(exported.takeFirst().at(0).toString(), QString());
    QVERIFY(read_all(tmp_.path() + "/session_csv/requests.csv").count('\n') >= 2);
  }

  void corrupt_model_shows_error_and_window_stays_usable() {
    const QString bad = tmp_.path() + "/corrupt.gguf";
    QVERIFY(write_file(bad, QByteArray("GGUF\x03\0\0\0", 8) + QByteArray(200, '\xff')));
    const int errors = w_->log()->count(ui::LogDock::Error);
    QSignalSpy failed(w_->controller(), &ui::EngineController::model_failed);
    QSignalSpy ready(w_.get(), &MainWindow::model_ready);
    w_->open_model(bad);
    QVERIFY(failed.wait(kWaitMs));
    QMessageBox* box = w_->error_box();
    QVERIFY(box && box->isVisible());
    QCOMPARE(box->windowModality(), Qt::NonModal);
    QVERIFY(box->text().contains("corrupt.gguf"));
    QVERIFY(w_->log()->count(ui::LogDock::Error) > errors);
    QVERIFY(!w_->recent_files()->files().contains(QFileInfo(bad).absoluteFilePath()));
    // The previous model stays open (it is never reloaded) and a prompt still works.
    QVERIFY(w_->model().has_value());
    QCOMPARE(w_->model()->path, demo_);
    QCOMPARE(ready.count(), 0);
    QVERIFY(!w_->controller()->busy());
    run_prompt(kPrompt, 4);
  }

  void corrupt_database_shows_error_and_window_stays_usable() {
    const QString bad = tmp_.path() + "/corrupt.db";
    QVERIFY(write_file(bad, QByteArray(8192, 'x')));
    QSignalSpy failed(w_->controller(), &ui::EngineController::database_failed);
    w_->open_database(bad);
    QVERIFY(failed.wait(kWaitMs));
    QMessageBox* box = w_->error_box();
    QVERIFY(box && box->isVisible());
    QVERIFY(box->text().contains("corrupt.db"));
    QCOMPARE(w_->session_id(), 0);
    run_prompt(kPrompt, 4);
    if (QTest::currentTestFailed()) return;
    QSignalSpy opened(w_->controller(), &ui::EngineController::database_opened);
    w_->open_database(db_path_);
    QVERIFY(opened.wait(kWaitMs));
    QVERIFY(w_->session_id() > 0);
  }

  void drop_opens_a_model() {
    auto* mime = new QMimeData;
    mime->setUrls({QUrl::fromLocalFile(demo_)});
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(w_.get(), &enter);
    QVERIFY(enter.isAccepted());
    QSignalSpy ready(w_.get(), &MainWindow::model_ready);
    QDropEvent drop(QPointF(10, 10), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(w_.get(), &drop);
    QVERIFY(ready.wait(kWaitMs));
    QCOMPARE(w_->model()->path, demo_);
    delete mime;
    run_prompt(kPrompt, 4);
  }

  void loading_can_be_cancelled() {
    QSignalSpy failed(w_->controller(), &ui::EngineController::model_failed);
    QSignalSpy ready(w_.get(), &MainWindow::model_ready);
    const QString errors_before = w_->last_error();
    w_->open_model(demo_);
    QVERIFY(w_->model_dock()->cancel_button()->isVisibleTo(w_->model_dock()));
    w_->cancel_load();  // normally lands before the engine thread's first cancel point
    QTRY_VERIFY_WITH_TIMEOUT(failed.count() + ready.count() > 0, kWaitMs);
    qInfo("the cancel %s", failed.isEmpty() ? "came after the load finished" : "stopped the load");
    if (!failed.isEmpty()) {
      QVERIFY(failed.takeFirst().at(0).toString().contains("cancelled"));
      QCOMPARE(w_->last_error(), errors_before);  // a cancel is no error
      QCOMPARE(ready.count(), 0);                 // the previous model stayed open
    }
    QCOMPARE(w_->model()->path, demo_);
    QVERIFY(!w_->model_dock()->progress_bar()->isVisibleTo(w_->model_dock()));
    run_prompt(kPrompt, 4);
  }

  void docks_have_stable_names_and_reset() {
    QCOMPARE(
        MainWindow::dock_names(),
        QStringList({"Model", "Prompt console", "Token trace", "Expert heatmap", "Memory",
                     "Latency", "Controls", "Log", "Prediction", "Sensitivity", "Experiment"}));
    QMenu* view = nullptr;
    for (QAction* a : w_->menuBar()->actions()) {
      if (a->text().remove('&') == "View") view = a->menu();
    }
    QVERIFY(view);
    for (const QString& name : MainWindow::dock_names()) {
      QDockWidget* d = w_->dock(name);
      QVERIFY2(d, qPrintable(name));
      QCOMPARE(d->objectName(), name);
      QVERIFY(view->actions().contains(d->toggleViewAction()));
      QVERIFY(d->isVisible());
    }
    // The Experiment dock waits in a tab behind the console (moved out of view, not hidden);
    // its menu item brings it forward.
    QVERIFY(w_->tabifiedDockWidgets(w_->dock("Experiment")).contains(w_->dock("Prompt console")));
    QVERIFY(w_->dock("Experiment")->visibleRegion().isEmpty());
    QVERIFY(!w_->dock("Prompt console")->visibleRegion().isEmpty());
    // File menu: export submenus per plot and format, session and report exports.
    QMenu* file = nullptr;
    for (QAction* a : w_->menuBar()->actions()) {
      if (a->text().remove('&') == "File") file = a->menu();
    }
    QVERIFY(file);
    QStringList file_items;
    QMenu* plots = nullptr;
    for (QAction* a : file->actions()) {
      file_items << a->text().remove('&');
      if (a->text().remove('&') == "Export plot") plots = a->menu();
    }
    for (const char* item : {"Open model…", "Recent models", "Open session…", "Run experiment…",
                             "Export session", "Export report…", "Quit"}) {
      QVERIFY2(file_items.contains(item), item);
    }
    for (QAction* a : file->actions()) {
      if (a->text().remove('&') == "Run experiment…") a->trigger();
    }
    QTRY_VERIFY(!w_->dock("Experiment")->visibleRegion().isEmpty());
    QVERIFY(w_->dock("Prompt console")->visibleRegion().isEmpty());
    QVERIFY(plots);
    QCOMPARE(plots->actions().size(), 3);
    for (QAction* a : plots->actions()) {
      QStringList formats;
      for (QAction* f : a->menu()->actions()) formats << f->text();
      QCOMPARE(formats, QStringList({"PNG…", "SVG…", "PDF…"}));
    }

    const auto area_of = [&](const char* n) { return w_->dockWidgetArea(w_->dock(n)); };
    const auto model_area = area_of("Model"), heat_area = area_of("Expert heatmap");
    w_->dock("Log")->toggleViewAction()->trigger();
    w_->dock("Memory")->hide();
    w_->dock("Expert heatmap")->setFloating(true);
    w_->addDockWidget(Qt::RightDockWidgetArea, w_->dock("Model"));
    QVERIFY(!w_->dock("Log")->isVisible());
    QAction* reset = view->findChild<QAction*>("resetLayout");
    if (!reset) {
      for (QAction* a : view->actions()) {
        if (a->objectName() == "resetLayout") reset = a;
      }
    }
    QVERIFY(reset);
    reset->trigger();
    for (const QString& name : MainWindow::dock_names()) {
      QVERIFY2(w_->dock(name)->isVisible(), qPrintable(name));
      QVERIFY(!w_->dock(name)->isFloating());
    }
    QCOMPARE(area_of("Model"), model_area);
    QCOMPARE(area_of("Expert heatmap"), heat_area);
    QCOMPARE(area_of("Log"), Qt::BottomDockWidgetArea);
  }

  void settings_persist_across_windows() {
    w_->set_theme(ui::Theme::Dark);
    w_->dock("Latency")->hide();
    ui::ControlsPanel* c = w_->controls();
    c->routing_combo()->setCurrentIndex(
        c->routing_combo()->findData(static_cast<int>(engine::RoutingMode::Exact)));
    c->budget_slider()->setValue(40);
    c->threads_spin()->setValue(std::min(2, c->threads_spin()->maximum()));
    QTest::qWait(400);  // the slider's debounce
    const int threads = c->threads_spin()->value();
    w_->resize(1234, 789);
    QCoreApplication::processEvents();
    const QSize size = w_->size();
    w_.reset();  // saves on destruction

    w_ = make_window();
    QCOMPARE(w_->theme(), ui::Theme::Dark);
    QVERIFY(ui::style::is_dark(QApplication::palette()));
    QVERIFY(w_->dock("Latency")->isHidden());
    QVERIFY(!w_->dock("Memory")->isHidden());
    QCOMPARE(w_->controls()->settings().mode, engine::RoutingMode::Exact);
    QCOMPARE(w_->controls()->budget_slider()->value(), 40);
    QCOMPARE(w_->controls()->threads_spin()->value(), threads);
    QVERIFY(w_->recent_files()->files().contains(demo_));
    QCOMPARE(w_->size(), size);
    w_->set_theme(ui::Theme::Light);
  }

  void cleanupTestCase() { w_.reset(); }
};

QTEST_MAIN(TestMainWindow)
#include "test_main_window.moc"
