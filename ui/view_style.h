// Colours and plot styling shared by the views, derived from the widget palette so plots stay
// readable in light and dark themes (re-applied when the palette changes).
#pragma once

#include <QColor>
#include <QFont>
#include <QPalette>
#include <cstdint>

class QCustomPlot;
class QCPAxisRect;
class QCPLegend;
class QWidget;

namespace emoe::ui::style {

bool is_dark(const QPalette& palette);

// Background, axes, grid, tick labels and legend of every axis rect of `plot` from its palette.
void apply_plot_theme(QCustomPlot* plot);

// Shows the plot's legend, a point smaller than the widget font and laid out in rows (in a short
// dock a tall legend would cover the curves), emptied of the graphs added so far. With `second`,
// also puts a legend of the same style at that axis rect's top right and returns it.
QCPLegend* setup_legends(QCustomPlot* plot, const QFont& font, QCPAxisRect* second = nullptr);

// A categorical colour for series `index` (stable across themes, lighter on dark backgrounds).
QColor series_color(int index, const QPalette& palette);

// Status colours: met / good (green), warning (amber), missed / bad (red).
QColor good_color(const QPalette& palette);
QColor warn_color(const QPalette& palette);
QColor bad_color(const QPalette& palette);

// Hue by golden-angle stepping so neighbouring expert ids get far-apart hues; mid lightness and
// saturation so the colour works both as a tint under text and as a marker on either theme.
// Invalid ids (< 0, or >= n_expert when n_expert > 0) give a neutral grey.
QColor expert_hue(int32_t expert, int32_t n_expert);

// Secondary text (labels, notes): halfway between the text and the background colour, so it is
// readable whatever the theme defines (or fails to define) as placeholder colour.
QColor muted(const QPalette& palette);

// A translucent version of `c` for backgrounds behind text (alpha in 0..255).
QColor tint(QColor c, int alpha);

}  // namespace emoe::ui::style
