// The tables of an experiment report, built once from an ExperimentResult and shown in the
// HTML, the PDF and the CSV files alike.
#pragma once

#include "core/experiment/experiment_result.h"
#include "core/report/report_table.h"

namespace emoe::report {

// Headline numbers per point: SLO attainment, mean/p90/p99 E2E, mean TTFT, throughput,
// accuracy, hit rate, peak memory, loads, bytes moved.
Table summary_table(const experiment::ExperimentResult& result);
// Every per-point metric (experiment_points_csv is this table's CSV).
Table points_table(const experiment::ExperimentResult& result);
// One row per capacity-study budget; no rows without a study.
Table capacity_table(const experiment::ExperimentResult& result);
// Every request of every point.
Table requests_table(const experiment::ExperimentResult& result);
// Property/value tables.
Table model_table(const experiment::ExperimentResult& result);
Table machine_table(const experiment::ExperimentResult& result);
// The experiment itself: name, start, duration, points, the matrix lists, workload, serving.
Table experiment_overview_table(const experiment::ExperimentResult& result);

}  // namespace emoe::report
