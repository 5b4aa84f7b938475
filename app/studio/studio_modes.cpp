#include "app/studio/studio_modes.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QImage>
#include <QTabWidget>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <vector>

#include "core/experiment/builtin_experiments.h"
#include "ui/engine_controller.h"
#include "ui/experiment_config_editor.h"
#include "ui/experiment_dock.h"
#include "ui/main_window.h"
#include "ui/prompt_console.h"

namespace emoe::studio {
namespace {

void fail(const QString& message) {
  std::fprintf(stderr, "emoe-studio: %s\n", qPrintable(message));
  QCoreApplication::exit(1);
}

// Runs `then` once the model is loaded and its settings applied (the first report after the
// model arrived).
void when_ready(ui::MainWindow& w, std::function<void()> then) {
  auto fired = std::make_shared<bool>(false);
  auto model_seen = std::make_shared<bool>(w.model().has_value());
  QObject::connect(&w, &ui::MainWindow::model_ready, &w, [model_seen] { *model_seen = true; });
  QObject::connect(w.controller(), &ui::EngineController::settings_applied, &w,
                   [fired, model_seen, then] {
                     if (*fired || !*model_seen) return;
                     *fired = true;
                     then();
                   });
  QObject::connect(w.controller(), &ui::EngineController::model_failed, &w,
                   [](const QString& m) { fail("the model failed to load: " + m); });
  QObject::connect(w.controller(), &ui::EngineController::settings_failed, &w,
                   [](const QString& m) { fail("the settings were refused: " + m); });
}

// Lets a few ticks drain the last telemetry and replot, grabs the window into `path` and quits
// with 0.
void grab_after_ticks(ui::MainWindow* win, const QString& path) {
  QTimer::singleShot(6 * ui::MainWindow::kTickMs, win, [win, path] {
    const QImage image = win->grab().toImage();
    if (image.isNull() || !image.save(path)) {
      fail("could not write " + path);
      return;
    }
    std::printf("%s\n", qPrintable(path));
    QCoreApplication::exit(0);
  });
}

}  // namespace

void start_screenshot(ui::MainWindow& w, const ScreenshotOptions& o) {
  QTimer::singleShot(o.timeout_ms, &w, [] { fail("timed out before the screenshot"); });
  auto remaining = std::make_shared<QStringList>(o.prompts);
  auto send_next = std::make_shared<std::function<void()>>();
  ui::MainWindow* win = &w;
  const QString path = o.path;
  *send_next = [win, remaining, path] {
    if (remaining->isEmpty()) {
      grab_after_ticks(win, path);
      return;
    }
    win->console()->set_input_text(remaining->takeFirst());
    win->console()->send();
  };
  QObject::connect(w.controller(), &ui::EngineController::request_finished, &w,
                   [send_next](const ui::RequestStats& s) {
                     if (!s.error.empty()) {
                       fail(QString::fromStdString("request failed: " + s.error));
                       return;
                     }
                     QTimer::singleShot(200, [send_next] { (*send_next)(); });
                   });
  when_ready(w, [send_next] { (*send_next)(); });
}

void start_experiment(ui::MainWindow& w, const ExperimentOptions& o) {
  ui::ExperimentDock* dock = w.experiment_dock();
  const std::string name = o.config.toStdString();
  const auto& builtin = experiment::builtin_experiment_names();
  if (!QFileInfo::exists(o.config) &&
      std::find(builtin.begin(), builtin.end(), name) != builtin.end()) {
    dock->editor()->set_text(
        QString::fromStdString(std::string(experiment::builtin_experiment_text(name))));
  } else if (const QString error = dock->editor()->open_file(o.config); !error.isEmpty()) {
    fail(error);
    return;
  }
  dock->show_in_window();
  if (!o.screenshot.isEmpty()) {
    QTimer::singleShot(o.timeout_ms, &w, [] { fail("timed out before the screenshot"); });
    const QString path = o.screenshot;
    ui::MainWindow* win = &w;
    QObject::connect(dock, &ui::ExperimentDock::run_failed, &w,
                     [](const QString& m) { fail("the experiment failed: " + m); });
    QObject::connect(dock, &ui::ExperimentDock::run_finished, &w, [win, dock, path] {
      dock->tabs()->setCurrentIndex(ui::ExperimentDock::RequestsTab);
      grab_after_ticks(win, path);
    });
  }
  // After the event loop starts, so the window is laid out; the run has its own model session.
  QTimer::singleShot(0, &w, [dock] {
    if (!dock->run()) fail("the experiment did not start: " + dock->status_text());
  });
}

void start_stall_benchmark(ui::MainWindow& w, const StallOptions& o) {
  struct State {
    QElapsedTimer clock;
    qint64 last_ns = 0;
    std::vector<double> gaps_ms;
    bool running = false;
    int64_t ticks0 = 0, tokens0 = 0;
  };
  auto st = std::make_shared<State>();
  auto* probe = new QTimer(&w);
  probe->setInterval(0);
  QObject::connect(probe, &QTimer::timeout, &w, [st] {
    const qint64 now = st->clock.nsecsElapsed();
    if (st->last_ns > 0) st->gaps_ms.push_back(static_cast<double>(now - st->last_ns) / 1e6);
    st->last_ns = now;
  });
  ui::MainWindow* win = &w;
  ui::PromptRequest request;
  request.text = o.prompt;
  request.max_new_tokens = o.max_new_tokens;
  request.ignore_eos = true;  // decode continuously
  QObject::connect(w.controller(), &ui::EngineController::request_finished, &w,
                   [st, win, request](const ui::RequestStats& s) {
                     if (!s.error.empty())
                       fail(QString::fromStdString("request failed: " + s.error));
                     if (st->running) win->controller()->submit(request);
                   });
  when_ready(w, [st, win, probe, request, seconds = o.seconds] {
    st->running = true;
    st->ticks0 = win->ticks();
    st->tokens0 = win->tokens_seen();
    win->controller()->submit(request);
    st->clock.start();
    probe->start();
    QTimer::singleShot(static_cast<int>(seconds * 1000), win, [st, win, probe, seconds] {
      probe->stop();
      st->running = false;
      win->controller()->stop();
      std::vector<double> g = st->gaps_ms;
      std::sort(g.begin(), g.end());
      // Time-weighted percentiles: an input event arriving at a random moment waits at most
      // pct(q) for the event loop with probability q (a count-weighted percentile would be
      // dominated by the idle loop's many sub-microsecond gaps).
      double total = 0;
      for (double v : g) total += v;
      const auto pct = [&](double q) {
        double acc = 0;
        for (double v : g) {
          acc += v;
          if (acc >= q * total) return v;
        }
        return g.empty() ? 0.0 : g.back();
      };
      // Gaps that would drop a 60 Hz frame, and the share of the time spent in such gaps.
      size_t over16 = 0, over50 = 0;
      double blocked_ms = 0;
      for (double v : g) {
        over16 += v > 16.7 ? 1 : 0;
        over50 += v > 50 ? 1 : 0;
        blocked_ms += v > 16.7 ? v : 0;
      }
      std::printf(
          "{\"max_stall_ms\": %.3f, \"p99_stall_ms\": %.3f, \"p50_stall_ms\": %.3f, "
          "\"stalls_over_16ms\": %zu, \"stalls_over_50ms\": %zu, \"blocked_fraction\": %.3f, "
          "\"samples\": %zu, \"ticks\": %lld, \"tokens\": %lld, \"seconds\": %.1f}\n",
          g.empty() ? 0.0 : g.back(), pct(0.99), pct(0.5), over16, over50,
          blocked_ms / (seconds * 1000.0), g.size(),
          static_cast<long long>(win->ticks() - st->ticks0),
          static_cast<long long>(win->tokens_seen() - st->tokens0), seconds);
      std::fflush(stdout);
      QCoreApplication::exit(0);
    });
  });
}

}  // namespace emoe::studio
