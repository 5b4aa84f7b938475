// Unattended modes of emoe-studio used by scripts: --screenshot (docs) and --measure-stall
// (the GUI stall benchmark). Each drives a shown MainWindow through its public API and quits
// the application when done.
#pragma once

#include <QString>
#include <QStringList>

namespace emoe::ui {
class MainWindow;
}

namespace emoe::studio {

struct ScreenshotOptions {
  QString path;         // PNG to write
  QStringList prompts;  // run one after another before the grab
  int timeout_ms = 180000;
};

// Waits for the model, runs the prompts through the console, lets the plots catch up, grabs
// the window into `path` and quits with 0 (1 on a failure or timeout, with a message on stderr).
void start_screenshot(ui::MainWindow& window, const ScreenshotOptions& options);

// --experiment CONFIG: loads a configuration (a file, or a built-in name: demo, p_sweep) into
// the Experiment dock, raises it and runs it. With a screenshot path, grabs the window with the
// Requests tab showing once the experiment has finished, and quits (1 on a failure).
struct ExperimentOptions {
  QString config;
  QString screenshot;  // empty: keep running
  int timeout_ms = 600000;
};
void start_experiment(ui::MainWindow& window, const ExperimentOptions& options);

struct StallOptions {
  double seconds = 10;
  QString prompt = "Explain how a mixture of experts model routes each token.";
  int max_new_tokens = 256;
};

// Once the model is ready, keeps the engine decoding for `seconds` while a 0 ms timer measures
// how late the GUI thread gets to it; prints one JSON object
// {max_stall_ms, p99_stall_ms, p50_stall_ms, ticks, tokens, seconds} and quits.
void start_stall_benchmark(ui::MainWindow& window, const StallOptions& options);

}  // namespace emoe::studio
