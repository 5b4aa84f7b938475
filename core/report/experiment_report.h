// Experiment reports (docs/EXPERIMENTS.md): the figures and tables of an ExperimentResult as a
// self-contained HTML page (inline SVG plots, no scripts, no external files) and a PDF with
// the same plots drawn as vector graphics, plus the raw data as JSON and CSV. Plain C++ with
// no Qt, so the headless CLI (`emoe report`) on a server and the workbench's Experiment dock
// produce the same report.
#pragma once

#include <string>
#include <vector>

#include "core/common/status.h"
#include "core/experiment/experiment_result.h"
#include "core/report/plot.h"

namespace emoe::report {

// The report's figures, each only when the result has the data for it (ids are stable; tests
// and the GUI look them up), in this order:
//   "latency_vs_rate"      mean E2E latency (ms) vs arrival rate (requests/s)
//   "latency_p90_vs_rate"  p90 E2E latency (ms) vs arrival rate
//   "latency_p99_vs_rate"  p99 E2E latency (ms) vs arrival rate
//   "ttft_vs_rate"         mean TTFT (ms) vs arrival rate
//   "slo_vs_rate"          SLO attainment (%) vs arrival rate
//   "throughput"           generated tokens/s vs arrival rate
//   "memory_vs_accuracy"   peak device memory (PointResult::peak_total_bytes, in GB, MB, KB or
//                          bytes, powers of 1000, whichever keeps the largest value >= 1; the
//                          x label names it) vs accuracy (%); one point per expert budget
//   "p_sweep"              accuracy (%) and hit rate (%) vs interval p; only with two or more
//                          distinct p > 0
//   "memory_over_time"     device memory (MemoryPoint::total(), unit as above) vs time (s), one
//                          series per point with a trace, at most 8 spread evenly over the matrix
//   "capacity_batch"       bars: max batch per capacity-study budget (series "max batch")
//   "capacity_prompt"      bars: max prompt per budget (series "max prompt (tokens)")
// Series names join dimension values with ", ": a primary dimension always, then the listed
// optional ones only when they differ between the result's points:
//   vs-rate plots: scheduler + budget, predictor, "p=N", routing ("emoe, 60%"); one point per
//     arrival rate (x ascending);
//   memory_vs_accuracy: predictor + routing, "p=N"; only points with measured accuracy;
//   p_sweep: "<predictor + budget, routing> accuracy" and "... hit rate", p > 0 points only;
//   memory_over_time: "#<point index>" then every varying dimension (also "2/s", "seed 3").
// Points that share a series and an x value (other seeds; for memory_vs_accuracy and p_sweep
// also schedulers and rates) are averaged, x and y alike. Latencies of points that completed no
// request are left out (undefined, not 0). Fractions are shown as percentages.
std::vector<Plot> experiment_plots(const experiment::ExperimentResult& result);

struct ReportOptions {
  std::string title;          // empty: "eMoE experiment: <config name>"
  bool request_table = true;  // every request of every point (large experiments: many rows)
};

// options.title, or "eMoE experiment: <config name>" when it is empty.
std::string report_title(const experiment::ExperimentResult& result, const ReportOptions& options);

// The HTML page: summary (experiment overview and headline numbers per point), plots (inline
// SVG, svg_plot.h), points table (every metric), capacity table (with a study), requests table
// (options.request_table), configuration (indented JSON), model, machine. Valid HTML5 that is
// also well-formed XML, so XML tools can read it.
std::string experiment_report_html(const experiment::ExperimentResult& result,
                                   const ReportOptions& options = {});
// The PDF's bytes (A4 landscape): a title page with the experiment (matrix, workload), model
// and machine; one page per plot; the summary, points, capacity and (options.request_table)
// requests tables, paginated (pdf_table.h); the configuration as JSON. Every page has a footer
// "<title> - page i of n".
std::string experiment_report_pdf(const experiment::ExperimentResult& result,
                                  const ReportOptions& options = {});

// Writes <dir>/report.html, report.pdf, summary.json (experiment_result_to_json), requests.csv
// (experiment_requests_csv) and points.csv (one row of metrics per point); creates dir.
// Returns the paths written. IoError names the file that could not be written.
Result<std::vector<std::string>> write_experiment_report(const experiment::ExperimentResult& result,
                                                         const std::string& dir,
                                                         const ReportOptions& options = {});

// One row per point: the point's parameters and every per-run metric.
std::string experiment_points_csv(const experiment::ExperimentResult& result);

}  // namespace emoe::report
