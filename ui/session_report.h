// What File > Export report writes about the current session: summary, engine settings, the
// requests and the busiest experts per layer, plus the plot images (rendered beforehand on the
// GUI thread). Pure: builds a ReportContent from plain values.
#pragma once

#include <QImage>
#include <optional>
#include <vector>

#include "ui/engine_controller.h"
#include "ui/report_export.h"
#include "ui/telemetry.h"

namespace emoe::ui {

struct SessionReportInputs {
  std::optional<ModelSummary> model;
  std::optional<EngineReport> engine;
  qint64 session_id = 0;
  std::vector<RequestStats> requests;
  std::vector<MemoryPoint> memory;
  std::vector<int64_t> counts;  // [n_layer * n_expert], used experts over the session
  int32_t n_layer = 0, n_expert = 0;
  double slo_attainment = -1;
  std::vector<std::pair<QString, QImage>> plots;
};

ReportContent build_session_report(const SessionReportInputs& in);

}  // namespace emoe::ui
