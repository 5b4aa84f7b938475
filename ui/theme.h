// Light and dark themes: the Fusion style with a palette per theme, and the plots' background,
// axes, grid and text following the palette (data colours stay as the views chose them).
#pragma once

#include <QPalette>
#include <QString>

class QCustomPlot;
class QWidget;

namespace emoe::ui {

enum class Theme { Light, Dark };

QString theme_name(Theme theme);             // "light" / "dark"
Theme theme_from_name(const QString& name);  // anything unknown: Light
QPalette theme_palette(Theme theme);
// Sets the application's style and palette, then restyles every QCustomPlot under `root`.
void apply_theme(Theme theme, QWidget* root = nullptr);
void apply_plot_theme(QCustomPlot* plot, Theme theme);
Theme current_theme();

}  // namespace emoe::ui
