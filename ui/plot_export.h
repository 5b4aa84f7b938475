// Saves a plot as PNG, SVG or PDF, chosen by the file extension. Runs on the GUI thread (it
// paints the widget); returns an empty string on success, else the error.
#pragma once

#include <QString>

class QCustomPlot;

namespace emoe::ui {

QString export_plot(QCustomPlot* plot, const QString& path, int width = 0, int height = 0);

}  // namespace emoe::ui
