// A session report: title, summary tables and plot images, written as one self-contained HTML
// file (images embedded as data URIs) and as PDF. The plots are rendered to images on the GUI
// thread first (render_plot); writing the files needs no widgets and may run on a worker thread.
#pragma once

#include <QImage>
#include <QString>
#include <QStringList>
#include <vector>

class QCustomPlot;

namespace emoe::ui {

struct ReportTable {
  QString title;
  QStringList header;
  std::vector<QStringList> rows;
};

struct ReportContent {
  QString title;
  QString subtitle;  // model, date, settings
  std::vector<ReportTable> tables;
  std::vector<std::pair<QString, QImage>> plots;  // caption, image
};

QImage render_plot(QCustomPlot* plot, int width = 1000, int height = 500);

// Each returns an empty string on success, else the error. Thread-safe (no widgets).
QString write_report_html(const ReportContent& report, const QString& path);
QString write_report_pdf(const ReportContent& report, const QString& path);

}  // namespace emoe::ui
