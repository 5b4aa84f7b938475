// experiment_report_html(): the self-contained HTML page (inline CSS and SVG, no scripts). It is
// also well-formed XML (void elements self-closed, only XML's entities), so any XML parser can
// check it.
#include "core/experiment/experiment_config.h"
#include "core/report/experiment_report.h"
#include "core/report/experiment_tables.h"
#include "core/report/json_pretty.h"
#include "core/report/plot_layout.h"
#include "core/report/svg_plot.h"
#include "core/report/text_encoding.h"

namespace emoe::report {

namespace {

constexpr const char* kStyle = R"css(
body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
p.meta { color: #555; margin-top: 0; }
nav a { margin-right: 1em; }
figure { margin: 1.5em 0; }
figcaption { color: #555; font-size: 0.9em; }
svg.plot { max-width: 100%; height: auto; border: 1px solid #eee; }
.table-wrap { overflow-x: auto; margin: 1em 0; }
table { border-collapse: collapse; font-size: 0.85em; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; white-space: nowrap; }
th { background: #f3f3f3; }
tbody tr:nth-child(even) { background: #fafafa; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.8em; overflow-x: auto; }
)css";

std::string section(const std::string& id, const std::string& heading, const std::string& body) {
  return "<section id=\"" + id + "\">\n<h2>" + xml_escape(heading) + "</h2>\n" + body +
         "</section>\n";
}

}  // namespace

std::string report_title(const experiment::ExperimentResult& result, const ReportOptions& options) {
  return options.title.empty() ? "eMoE experiment: " + result.config.name : options.title;
}

std::string experiment_report_html(const experiment::ExperimentResult& result,
                                   const ReportOptions& options) {
  const std::string title = report_title(result, options);
  const std::vector<Plot> plots = experiment_plots(result);
  const Table capacity = capacity_table(result);

  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n";
  out += "<meta name=\"generator\" content=\"eMoE Studio\"/>\n";
  out += "<title>" + xml_escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n";
  out += "<body>\n<header>\n<h1>" + xml_escape(title) + "</h1>\n<p class=\"meta\">" +
         std::to_string(result.points.size()) + " points, " + format_fixed(result.wall_seconds, 1) +
         " s" + (result.cancelled ? ", cancelled before the end" : "") + "</p>\n</header>\n";

  out +=
      "<nav><a href=\"#summary\">Summary</a><a href=\"#plots\">Plots</a>"
      "<a href=\"#points\">Points</a>";
  if (!capacity.rows.empty()) out += "<a href=\"#capacity\">Capacity</a>";
  if (options.request_table) out += "<a href=\"#requests\">Requests</a>";
  out +=
      "<a href=\"#configuration\">Configuration</a><a href=\"#model\">Model</a>"
      "<a href=\"#machine\">Machine</a></nav>\n";

  out += section("summary", "Summary",
                 table_html(experiment_overview_table(result)) + table_html(summary_table(result)));

  std::string figures;
  for (const Plot& plot : plots) {
    figures += "<figure id=\"fig-" + xml_escape(plot.id) + "\">\n" + plot_svg(plot) +
               "<figcaption>" + xml_escape(plot.title) + "</figcaption>\n</figure>\n";
  }
  if (plots.empty()) figures = "<p>The result has no data to plot.</p>\n";
  out += section("plots", "Plots", figures);

  out += section("points", "Points", table_html(points_table(result)));
  if (!capacity.rows.empty()) out += section("capacity", "Capacity study", table_html(capacity));
  if (options.request_table)
    out += section("requests", "Requests", table_html(requests_table(result)));
  out += section("configuration", "Configuration",
                 "<pre>" +
                     xml_escape(pretty_json(experiment::experiment_config_to_json(result.config))) +
                     "</pre>\n");
  out += section("model", "Model", table_html(model_table(result)));
  out += section("machine", "Machine", table_html(machine_table(result)));
  out += "</body>\n</html>\n";
  return out;
}

}  // namespace emoe::report
