#include "ui/plot_export.h"

#include <qcustomplot.h>

#include <QDir>
#include <QFileInfo>
#include <QSvgGenerator>

namespace emoe::ui {
namespace {

// The widget's size when it is on screen; a sensible page otherwise (hidden widgets have not
// been laid out).
int pick(int requested, bool visible, int widget, int fallback) {
  if (requested > 0) return requested;
  return visible && widget > 0 ? widget : fallback;
}

}  // namespace

QString export_plot(QCustomPlot* plot, const QString& path, int width, int height) {
  if (plot == nullptr) return QStringLiteral("export: no plot");
  const QFileInfo info(path);
  const QString suffix = info.suffix().toLower();
  if (suffix != QLatin1String("png") && suffix != QLatin1String("pdf") &&
      suffix != QLatin1String("svg")) {
    return QStringLiteral("cannot export to %1: unknown file type \"%2\" (use .png, .svg or .pdf)")
        .arg(path, suffix);
  }
  if (!info.absoluteDir().exists()) {
    return QStringLiteral("cannot export to %1: folder %2 does not exist")
        .arg(path, info.absolutePath());
  }
  const int w = pick(width, plot->isVisible(), plot->width(), 1000);
  const int h = pick(height, plot->isVisible(), plot->height(), 500);
  bool ok = false;
  if (suffix == QLatin1String("png")) {
    ok = plot->savePng(path, w, h);
  } else if (suffix == QLatin1String("pdf")) {
    ok = plot->savePdf(path, w, h);
  } else {
    QSvgGenerator generator;
    generator.setFileName(path);
    generator.setSize(QSize(w, h));
    generator.setViewBox(QRect(0, 0, w, h));
    generator.setTitle(QStringLiteral("eMoE Studio plot"));
    QCPPainter painter;
    if (painter.begin(&generator)) {
      plot->toPainter(&painter, w, h);
      ok = painter.end();
    }
  }
  if (!ok || !QFileInfo(path).isFile() || QFileInfo(path).size() == 0) {
    return QStringLiteral("cannot write %1 (is the location writable?)").arg(path);
  }
  return {};
}

}  // namespace emoe::ui
