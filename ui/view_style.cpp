#include "ui/view_style.h"

#include <qcustomplot.h>

#include <cmath>

namespace emoe::ui::style {

bool is_dark(const QPalette& palette) { return palette.color(QPalette::Base).lightness() < 128; }

void apply_plot_theme(QCustomPlot* plot) {
  if (plot == nullptr) return;
  const QPalette pal = plot->palette();
  const QColor bg = pal.color(QPalette::Base);
  const QColor fg = pal.color(QPalette::Text);
  QColor grid = fg;
  grid.setAlpha(40);
  QColor sub_grid = fg;
  sub_grid.setAlpha(18);
  plot->setBackground(QBrush(bg));
  for (QCPAxisRect* rect : plot->axisRects()) {
    rect->setBackground(QBrush(bg));
    for (QCPAxis* axis : rect->axes()) {
      axis->setBasePen(QPen(fg, 1));
      axis->setTickPen(QPen(fg, 1));
      axis->setSubTickPen(QPen(fg, 1));
      axis->setTickLabelColor(fg);
      axis->setLabelColor(fg);
      axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
      axis->grid()->setSubGridPen(QPen(sub_grid, 1, Qt::DotLine));
      axis->grid()->setZeroLinePen(QPen(grid, 1));
    }
  }
  // Legends live in the axis rects' inset layouts (a view may have one per rect).
  QColor legend_bg = bg;
  legend_bg.setAlpha(200);
  for (QCPAxisRect* rect : plot->axisRects()) {
    for (int i = 0; i < rect->insetLayout()->elementCount(); ++i) {
      if (auto* legend = qobject_cast<QCPLegend*>(rect->insetLayout()->elementAt(i))) {
        legend->setBrush(QBrush(legend_bg));
        legend->setBorderPen(QPen(grid));
        legend->setTextColor(fg);
      }
    }
  }
  // Colour scales are layout elements with their own axis.
  for (int i = 0; i < plot->plotLayout()->elementCount(); ++i) {
    if (auto* scale = qobject_cast<QCPColorScale*>(plot->plotLayout()->elementAt(i))) {
      QCPAxis* axis = scale->axis();
      axis->setBasePen(QPen(fg, 1));
      axis->setTickPen(QPen(fg, 1));
      axis->setSubTickPen(QPen(fg, 1));
      axis->setTickLabelColor(fg);
      axis->setLabelColor(fg);
    }
  }
}

QColor series_color(int index, const QPalette& palette) {
  // Tableau-like categorical colours; distinguishable for common colour-vision deficiencies.
  static const QRgb kColors[] = {0x4e79a7, 0xf28e2b, 0x59a14f, 0xe15759, 0x76b7b2,
                                 0xedc948, 0xb07aa1, 0xff9da7, 0x9c755f, 0xbab0ac};
  constexpr int kN = sizeof(kColors) / sizeof(kColors[0]);
  QColor c = QColor::fromRgb(kColors[((index % kN) + kN) % kN]);
  return is_dark(palette) ? c.lighter(125) : c;
}

QColor good_color(const QPalette& palette) {
  return is_dark(palette) ? QColor(0x6a, 0xd0, 0x7a) : QColor(0x2e, 0x8b, 0x3e);
}

QColor warn_color(const QPalette& palette) {
  return is_dark(palette) ? QColor(0xf0, 0xb4, 0x40) : QColor(0xc7, 0x80, 0x00);
}

QColor bad_color(const QPalette& palette) {
  return is_dark(palette) ? QColor(0xff, 0x6b, 0x6b) : QColor(0xd0, 0x20, 0x20);
}

QColor expert_hue(int32_t expert, int32_t n_expert) {
  if (expert < 0 || (n_expert > 0 && expert >= n_expert)) return QColor(128, 128, 128);
  constexpr double kGoldenAngle = 137.50776405003785;  // degrees: 360 * (1 - 1/phi)
  const double hue = std::fmod(static_cast<double>(expert) * kGoldenAngle, 360.0);
  // Alternate the lightness a little so hues that land close together still differ.
  const double value = (expert % 2 == 0) ? 0.85 : 0.72;
  return QColor::fromHsvF(static_cast<float>(hue / 360.0), 0.70f, static_cast<float>(value));
}

QColor muted(const QPalette& palette) {
  const QColor a = palette.color(QPalette::Text), b = palette.color(QPalette::Base);
  return QColor((a.red() * 3 + b.red() * 2) / 5, (a.green() * 3 + b.green() * 2) / 5,
                (a.blue() * 3 + b.blue() * 2) / 5);
}

QColor tint(QColor c, int alpha) {
  c.setAlpha(alpha);
  return c;
}

QCPLegend* setup_legends(QCustomPlot* plot, const QFont& font, QCPAxisRect* second) {
  plot->legend->setVisible(true);
  plot->legend->setFont(QFont(font.family(), std::max(7, font.pointSize() - 1)));
  QCPLegend* extra = nullptr;
  if (second) {
    extra = new QCPLegend;
    second->insetLayout()->addElement(extra, Qt::AlignTop | Qt::AlignRight);
    extra->setLayer(QStringLiteral("legend"));
    extra->setFont(plot->legend->font());
  }
  for (QCPLegend* l : {plot->legend, extra}) {
    if (!l) continue;
    l->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    l->setWrap(3);
    l->setIconSize(14, 8);
  }
  plot->legend->clearItems();
  return extra;
}

}  // namespace emoe::ui::style
