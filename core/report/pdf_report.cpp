// experiment_report_pdf(): A4 landscape pages: a title page (experiment, model, machine), one
// page per plot, the tables (summary, points, capacity, requests), then the configuration
// as JSON. Every page has a footer "<title> - page i of n".
#include <algorithm>

#include "core/experiment/experiment_config.h"
#include "core/report/experiment_report.h"
#include "core/report/experiment_tables.h"
#include "core/report/json_pretty.h"
#include "core/report/pdf_document.h"
#include "core/report/pdf_plot.h"
#include "core/report/pdf_table.h"

namespace emoe::report {

namespace {

constexpr double kPageWidth = kA4Height;  // landscape
constexpr double kPageHeight = kA4Width;
constexpr double kMargin = 36.0;
constexpr double kFooterReserve = 18.0;
constexpr Rgb kGray{0x66, 0x66, 0x66};

// A property table as "name  value" lines in a column of the title page; returns the y below.
double draw_properties(PdfContent& page, const Table& table, double x, double y, double width) {
  constexpr double kSize = 9.0, kPitch = 13.0;
  page.text(x, y, table.title, Font::HelveticaBold, 12.0);
  y -= 18.0;
  double name_width = 0.0;
  for (const auto& row : table.rows) {
    name_width = std::max(name_width, text_width(row[0].text, kSize, Font::HelveticaBold));
  }
  name_width = std::min(name_width + 10.0, width * 0.45);
  for (const auto& row : table.rows) {
    page.text(x, y, fit_text(row[0].text, name_width - 10.0, kSize, Font::HelveticaBold),
              Font::HelveticaBold, kSize);
    page.text(x + name_width, y, fit_text(row[1].text, width - name_width, kSize), Font::Helvetica,
              kSize);
    y -= kPitch;
  }
  return y - 12.0;
}

std::string title_page(const experiment::ExperimentResult& result, const std::string& title) {
  PdfContent page;
  double y = kPageHeight - kMargin - 22.0;
  page.text(kMargin, y, fit_text(title, kPageWidth - 2 * kMargin, 22.0, Font::HelveticaBold),
            Font::HelveticaBold, 22.0);
  y -= 20.0;
  std::string meta = std::to_string(result.points.size()) + " points";
  if (!result.capacity.empty()) {
    meta += ", capacity study of " + std::to_string(result.capacity.size()) + " budgets";
  }
  if (result.cancelled) meta += ", cancelled before the end";
  page.text(kMargin, y, meta, Font::Helvetica, 11.0, kGray);
  y -= 34.0;
  const double column = (kPageWidth - 2 * kMargin - 24.0) / 2;
  draw_properties(page, experiment_overview_table(result), kMargin, y, column);
  const double right = kMargin + column + 24.0;
  const double below = draw_properties(page, model_table(result), right, y, column);
  draw_properties(page, machine_table(result), right, below, column);
  return page.str();
}

std::string plot_page(const Plot& plot) {
  PdfContent page;
  draw_plot_pdf(plot, page, kMargin, kPageHeight - kMargin, kPageWidth - 2 * kMargin,
                kPageHeight - 2 * kMargin - kFooterReserve);
  return page.str();
}

std::vector<std::string> text_pages(const std::string& heading, const std::string& text) {
  constexpr double kSize = 8.0, kPitch = 9.0;
  // Courier: every glyph is 0.6 em wide, so long lines wrap at a fixed column.
  const auto columns = static_cast<size_t>((kPageWidth - 2 * kMargin) / (kSize * 0.6));
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    do {
      lines.push_back(line.substr(0, columns));
      line = line.size() > columns ? line.substr(columns) : std::string();
    } while (!line.empty());
    start = end + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  const double top = kPageHeight - kMargin;
  const auto per_page = static_cast<size_t>((top - 24.0 - kMargin - kFooterReserve) / kPitch);
  std::vector<std::string> pages;
  for (size_t first = 0; first == 0 || first < lines.size(); first += per_page) {
    PdfContent page;
    page.text(kMargin, top - 12.0, first == 0 ? heading : heading + " (continued)",
              Font::HelveticaBold, 12.0);
    for (size_t i = first; i < std::min(lines.size(), first + per_page); ++i) {
      page.text(kMargin, top - 24.0 - kPitch * static_cast<double>(i - first + 1), lines[i],
                Font::Courier, kSize);
    }
    pages.push_back(page.str());
    if (lines.empty()) break;
  }
  return pages;
}

}  // namespace

std::string experiment_report_pdf(const experiment::ExperimentResult& result,
                                  const ReportOptions& options) {
  const std::string title = report_title(result, options);
  std::vector<std::string> pages;
  pages.push_back(title_page(result, title));
  for (const Plot& plot : experiment_plots(result)) pages.push_back(plot_page(plot));

  PdfTableLayout layout;
  layout.page_width = kPageWidth;
  layout.page_height = kPageHeight;
  layout.margin = kMargin;
  layout.bottom_reserve = kFooterReserve;
  const auto add_table = [&](const Table& table, size_t key_columns) {
    layout.key_columns = key_columns;
    for (std::string& p : pdf_table_pages(table, layout)) pages.push_back(std::move(p));
  };
  add_table(summary_table(result), 2);  // the labels identify rows in every band
  add_table(points_table(result), 1);
  const Table capacity = capacity_table(result);
  if (!capacity.rows.empty()) add_table(capacity, 1);
  if (options.request_table) add_table(requests_table(result), 2);
  for (std::string& p : text_pages(
           "Configuration", pretty_json(experiment::experiment_config_to_json(result.config)))) {
    pages.push_back(std::move(p));
  }

  PdfDocument doc(kPageWidth, kPageHeight);
  doc.set_title(title);
  doc.set_creator("eMoE Studio");
  doc.set_creation_time(result.started_at_us / 1000000);
  for (size_t i = 0; i < pages.size(); ++i) {
    PdfContent footer;
    const std::string text =
        title + " - page " + std::to_string(i + 1) + " of " + std::to_string(pages.size());
    const std::string shown = fit_text(text, kPageWidth - 2 * kMargin, 8.0);
    footer.text((kPageWidth - text_width(shown, 8.0)) / 2, kMargin - 6.0, shown, Font::Helvetica,
                8.0, kGray);
    doc.add_page(pages[i] + footer.str());
  }
  return doc.finish();
}

}  // namespace emoe::report
