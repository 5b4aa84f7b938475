// The workbench's default dock arrangement (View > Reset layout, and the first start): three
// columns, model and controls | console and token trace (the Experiment dock tabbed behind the
// console) | heatmap, memory, latency and prediction, with the log along the bottom; sizes are
// proportions of the window, so the layout fits any size it is shown at.
#pragma once

#include <QStringList>

class QMainWindow;

namespace emoe::ui {

// Docks are found by their objectNames (MainWindow::dock_names()); every one is re-docked.
void arrange_default_layout(QMainWindow& window, const QStringList& dock_names);
void apply_default_dock_sizes(QMainWindow& window);

}  // namespace emoe::ui
