#include "ui/default_layout.h"

#include <QDockWidget>
#include <QMainWindow>
#include <algorithm>

namespace emoe::ui {
namespace {

QDockWidget* dock(QMainWindow& w, const char* name) {
  return w.findChild<QDockWidget*>(QString::fromLatin1(name), Qt::FindDirectChildrenOnly);
}

}  // namespace

void arrange_default_layout(QMainWindow& w, const QStringList& dock_names) {
  for (const QString& name : dock_names) {
    QDockWidget* d = w.findChild<QDockWidget*>(name, Qt::FindDirectChildrenOnly);
    d->setFloating(false);
    w.removeDockWidget(d);
  }
  w.addDockWidget(Qt::LeftDockWidgetArea, dock(w, "Model"));
  w.splitDockWidget(dock(w, "Model"), dock(w, "Prompt console"), Qt::Horizontal);
  w.splitDockWidget(dock(w, "Model"), dock(w, "Controls"), Qt::Vertical);
  w.splitDockWidget(dock(w, "Controls"), dock(w, "Sensitivity"), Qt::Vertical);
  w.splitDockWidget(dock(w, "Prompt console"), dock(w, "Token trace"), Qt::Vertical);
  w.addDockWidget(Qt::RightDockWidgetArea, dock(w, "Expert heatmap"));
  w.splitDockWidget(dock(w, "Expert heatmap"), dock(w, "Memory"), Qt::Vertical);
  w.splitDockWidget(dock(w, "Memory"), dock(w, "Latency"), Qt::Vertical);
  w.splitDockWidget(dock(w, "Latency"), dock(w, "Prediction"), Qt::Vertical);
  w.addDockWidget(Qt::BottomDockWidgetArea, dock(w, "Log"));
  // Experiments want the middle column's room; behind the console until asked for.
  w.tabifyDockWidget(dock(w, "Prompt console"), dock(w, "Experiment"));
  for (const QString& name : dock_names) {
    w.findChild<QDockWidget*>(name, Qt::FindDirectChildrenOnly)->show();
  }
  dock(w, "Prompt console")->raise();
  apply_default_dock_sizes(w);
}

void apply_default_dock_sizes(QMainWindow& win) {
  const int w = std::max(win.width(), 800), h = std::max(win.height(), 600);
  const auto d = [&win](const char* name) { return dock(win, name); };
  win.resizeDocks({d("Model"), d("Prompt console"), d("Expert heatmap")},
                  {w * 24 / 100, w * 33 / 100, w * 43 / 100}, Qt::Horizontal);
  // The left and middle columns take what the log leaves.
  win.resizeDocks({d("Model"), d("Controls"), d("Sensitivity")},
                  {h * 40 / 100, h * 25 / 100, h * 15 / 100}, Qt::Vertical);
  win.resizeDocks({d("Prompt console"), d("Token trace")}, {h * 50 / 100, h * 30 / 100},
                  Qt::Vertical);
  win.resizeDocks({d("Expert heatmap"), d("Memory"), d("Latency"), d("Prediction")},
                  {h * 23 / 100, h * 29 / 100, h * 22 / 100, h * 22 / 100}, Qt::Vertical);
  win.resizeDocks({d("Log")}, {h * 11 / 100}, Qt::Vertical);
}

}  // namespace emoe::ui
