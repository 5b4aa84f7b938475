// emoe-studio: the workbench. With no arguments it opens on the built-in demo model (generated
// into the data directory on first start); `emoe-studio MODEL.gguf` opens that model.
#include <QApplication>
#include <QCommandLineParser>
#include <QRegularExpression>
#include <QTimer>
#include <cstdio>
#include <string>

#include "app/studio/studio_modes.h"
#include "ui/controls_panel.h"
#include "ui/engine_controller.h"
#include "ui/main_window.h"
#include "ui/studio_paths.h"
#include "ui/theme.h"

int main(int argc, char** argv) {
  // --help and --version print and exit; they should work without a display.
  for (int i = 1; i < argc; ++i) {
    const QByteArray a(argv[i]);
    if ((a == "-h" || a == "--help" || a == "--help-all" || a == "-v" || a == "--version") &&
        qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) {
      qputenv("QT_QPA_PLATFORM", "offscreen");
    }
  }
  QApplication app(argc, argv);
  QCoreApplication::setOrganizationName(emoe::ui::kSettingsOrganisation);
  QCoreApplication::setApplicationName(emoe::ui::kSettingsApplication);
  QCoreApplication::setApplicationVersion("0.1.0");

  QCommandLineParser p;
  p.setApplicationDescription("eMoE Studio: memory-efficient MoE inference workbench");
  p.addHelpOption();
  p.addVersionOption();
  p.addPositionalArgument("model", "GGUF model to open (default: the built-in demo model)",
                          "[MODEL.gguf]");
  const QCommandLineOption db_opt("db", "history database (default: <data dir>/history.db)",
                                  "FILE");
  const QCommandLineOption shot_opt("screenshot", "run the prompts, save the window as PNG, quit",
                                    "FILE.png");
  const QCommandLineOption prompt_opt("prompt", "prompt for --screenshot (repeatable)", "TEXT");
  const QCommandLineOption quit_opt("quit-after-ms", "quit after this many milliseconds", "MS");
  const QCommandLineOption stall_opt(
      "measure-stall", "decode continuously for SECONDS and print GUI stall JSON", "SECONDS");
  const QCommandLineOption routing_opt("routing", "routing mode: all, exact or fallback", "MODE");
  const QCommandLineOption predictor_opt(
      "predictor", "eMoE predictor (none, emoe-a, emoe-l, frequency, ...)", "NAME");
  const QCommandLineOption interval_opt("interval", "run the predictor every P prompts", "P");
  const QCommandLineOption budget_opt("budget", "expert budget, percent of all expert bytes",
                                      "PCT");
  const QCommandLineOption device_opt(
      "device", "compute device: cpu, cuda or cuda:N (without a GPU: the CPU)", "DEV");
  const QCommandLineOption theme_opt("theme", "light or dark", "THEME");
  const QCommandLineOption fresh_opt("fresh",
                                     "start from the default layout and settings; save nothing");
  const QCommandLineOption size_opt("size", "window size WxH", "WxH");
  const QCommandLineOption experiment_opt(
      "experiment",
      "run this experiment configuration (a file, or built in: demo, p_sweep) in the Experiment "
      "dock; with --screenshot, grab the window when it has finished",
      "CONFIG");
  p.addOptions({db_opt, shot_opt, prompt_opt, quit_opt, stall_opt, routing_opt, predictor_opt,
                interval_opt, budget_opt, device_opt, theme_opt, fresh_opt, size_opt,
                experiment_opt});
  p.process(app);

  emoe::ui::MainWindowOptions options;
  options.db_path = p.value(db_opt);
  // Unattended runs start from the default layout so their output does not depend on the
  // user's saved state.
  const bool unattended = p.isSet(shot_opt) || p.isSet(stall_opt);
  options.restore_settings = !p.isSet(fresh_opt) && !unattended;
  options.save_settings = options.restore_settings;
  emoe::ui::MainWindow window(options);

  if (p.isSet(theme_opt)) window.set_theme(emoe::ui::theme_from_name(p.value(theme_opt)));
  if (p.isSet(routing_opt) || p.isSet(budget_opt) || p.isSet(predictor_opt) ||
      p.isSet(interval_opt) || p.isSet(device_opt)) {
    emoe::ui::EngineSettings s = window.controls()->settings();
    if (p.isSet(routing_opt)) {
      const auto mode = emoe::engine::routing_mode_from_name(p.value(routing_opt).toStdString());
      if (!mode) {
        std::fprintf(stderr, "emoe-studio: --routing expects all, exact or fallback\n");
        return 2;
      }
      s.mode = *mode;
    }
    if (p.isSet(budget_opt)) s.budget_percent = p.value(budget_opt).toDouble();
    if (p.isSet(predictor_opt)) s.predictor = p.value(predictor_opt).toStdString();
    if (p.isSet(interval_opt)) s.interval = p.value(interval_opt).toInt();
    if (p.isSet(device_opt)) {
      // The engine thread opens the device; only the name's form is checked here.
      static const QRegularExpression form(QStringLiteral("^(cpu|cuda|cuda:[0-9]{1,4})$"));
      if (!form.match(p.value(device_opt)).hasMatch()) {
        std::fprintf(stderr, "emoe-studio: --device expects cpu, cuda or cuda:N\n");
        return 2;
      }
      s.device = p.value(device_opt).toStdString();
    }
    window.controls()->set_settings(s);
  }
  // Scripts that start the workbench see on stderr where the engine runs when that is not the
  // device they asked for (the Log dock has it too).
  QObject::connect(window.controller(), &emoe::ui::EngineController::settings_applied, &window,
                   [told = std::string()](const emoe::ui::EngineReport& r) mutable {
                     if (r.device_notice.empty() || r.device_notice == told) return;
                     told = r.device_notice;
                     std::fprintf(stderr, "emoe-studio: %s\n", told.c_str());
                   });
  if (p.isSet(size_opt)) {
    const QStringList wh = p.value(size_opt).split('x');
    if (wh.size() == 2) window.resize(wh[0].toInt(), wh[1].toInt());
  }
  window.show();

  const QStringList args = p.positionalArguments();
  if (args.isEmpty()) {
    window.open_demo_model();
  } else {
    window.open_model(args.first());
  }

  if (p.isSet(experiment_opt)) {
    emoe::studio::ExperimentOptions eo;
    eo.config = p.value(experiment_opt);
    eo.screenshot = p.value(shot_opt);
    emoe::studio::start_experiment(window, eo);
  } else if (p.isSet(shot_opt)) {
    emoe::studio::ScreenshotOptions so;
    so.path = p.value(shot_opt);
    so.prompts = p.values(prompt_opt);
    if (so.prompts.isEmpty()) so.prompts << "Summarize: experts in a mixture of experts model.";
    emoe::studio::start_screenshot(window, so);
  }
  if (p.isSet(stall_opt)) {
    emoe::studio::StallOptions so;
    so.seconds = p.value(stall_opt).toDouble();
    if (so.seconds <= 0) so.seconds = 10;
    if (p.isSet(prompt_opt)) so.prompt = p.value(prompt_opt);
    emoe::studio::start_stall_benchmark(window, so);
  }
  if (p.isSet(quit_opt)) QTimer::singleShot(p.value(quit_opt).toInt(), &app, &QApplication::quit);
  return app.exec();
}
