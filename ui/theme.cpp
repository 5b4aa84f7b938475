#include "ui/theme.h"

#include <qcustomplot.h>

#include <QApplication>
#include <QStyleFactory>
#include <QWidget>

#include "ui/view_style.h"

namespace emoe::ui {
namespace {

Theme g_theme = Theme::Light;

}  // namespace

QString theme_name(Theme theme) { return theme == Theme::Dark ? "dark" : "light"; }

Theme theme_from_name(const QString& name) {
  return name.compare("dark", Qt::CaseInsensitive) == 0 ? Theme::Dark : Theme::Light;
}

QPalette theme_palette(Theme theme) {
  if (theme == Theme::Light) {
    QStyle* fusion = QStyleFactory::create("Fusion");
    QPalette p = fusion ? fusion->standardPalette() : QPalette();
    delete fusion;
    return p;
  }
  QPalette p;
  const QColor window(45, 45, 48), base(30, 30, 32), text(220, 220, 220), disabled(120, 120, 120);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, QColor(40, 40, 43));
  p.setColor(QPalette::ToolTipBase, QColor(60, 60, 64));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, QColor(140, 140, 140));
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, window);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, QColor(255, 90, 90));
  p.setColor(QPalette::Light, QColor(70, 70, 74));
  p.setColor(QPalette::Midlight, QColor(58, 58, 62));
  p.setColor(QPalette::Mid, QColor(36, 36, 38));
  p.setColor(QPalette::Dark, QColor(25, 25, 27));
  p.setColor(QPalette::Shadow, Qt::black);
  p.setColor(QPalette::Link, QColor(90, 160, 250));
  p.setColor(QPalette::Highlight, QColor(42, 110, 200));
  p.setColor(QPalette::HighlightedText, Qt::white);
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText}) {
    p.setColor(QPalette::Disabled, role, disabled);
  }
  return p;
}

void apply_plot_theme(QCustomPlot* plot, Theme theme) {
  if (!plot) return;
  (void)theme;  // the plot's palette follows the application's (set by apply_theme)
  style::apply_plot_theme(plot);
  plot->replot(QCustomPlot::rpQueuedReplot);
}

void apply_theme(Theme theme, QWidget* root) {
  g_theme = theme;
  if (auto* app = qobject_cast<QApplication*>(QCoreApplication::instance())) {
    if (QStyle* fusion = QStyleFactory::create("Fusion")) app->setStyle(fusion);
    app->setPalette(theme_palette(theme));
  }
  if (root) {
    for (QCustomPlot* plot : root->findChildren<QCustomPlot*>()) apply_plot_theme(plot, theme);
  }
}

Theme current_theme() { return g_theme; }

}  // namespace emoe::ui
