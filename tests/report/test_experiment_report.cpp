// The experiment report end to end on synthetic results with hand-picked numbers: the plots
// experiment_plots() chooses (ids, series names, x/y values recomputed here from the input),
// the HTML page (parsed as XML: figures, tables, configuration, model, machine), the PDF
// (parsed: one page per plot showing its title and series, then tables and configuration),
// the files write_experiment_report() writes, and its errors.
#include <QTemporaryDir>
#include <QXmlStreamReader>
#include <QtTest>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/common/json_reader.h"
#include "core/report/experiment_report.h"
#include "core/report/text_encoding.h"
#include "tests/report/report_test_support.h"

using namespace emoe;
using namespace emoe::report;
using experiment::ExperimentResult;
using experiment::PointResult;
using report_test::kBudgets;
using report_test::kRates;
using report_test::kSchedulers;

namespace {

const Plot* find_plot(const std::vector<Plot>& plots, const std::string& id) {
  for (const Plot& p : plots) {
    if (p.id == id) return &p;
  }
  return nullptr;
}

const Series* find_series(const Plot& plot, const std::string& name) {
  for (const Series& s : plot.series) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool near(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); }

std::vector<std::string> ids(const std::vector<Plot>& plots) {
  std::vector<std::string> out;
  for (const Plot& p : plots) out.push_back(p.id);
  return out;
}

// What the HTML holds, read with an XML parser (the page is well-formed XML by design).
struct Html {
  QString error;
  std::vector<std::string> section_ids;
  std::map<std::string, std::vector<std::string>> figure_series;        // figure id -> series names
  std::map<std::string, std::vector<std::vector<std::string>>> tables;  // id -> body rows
  std::string pre;
  bool script = false;
};

Html parse_html(const std::string& html) {
  Html h;
  QXmlStreamReader xml(QByteArray::fromStdString(html));
  std::string figure, table;
  std::vector<std::string>* row = nullptr;
  while (!xml.atEnd()) {
    xml.readNext();
    if (xml.isStartElement()) {
      const QString name = xml.name().toString();
      const auto a = xml.attributes();
      if (name == QLatin1String("script")) h.script = true;
      if (name == QLatin1String("section"))
        h.section_ids.push_back(a.value("id").toString().toStdString());
      if (name == QLatin1String("figure")) figure = a.value("id").toString().toStdString();
      if (name == QLatin1String("g") && a.value("class") == QLatin1String("series")) {
        h.figure_series[figure].push_back(a.value("data-name").toString().toStdString());
      }
      if (name == QLatin1String("table")) table = a.value("id").toString().toStdString();
      if (name == QLatin1String("tr") && !table.empty()) {
        h.tables[table].emplace_back();
        row = &h.tables[table].back();
      }
      if (name == QLatin1String("td") && row) row->push_back(xml.readElementText().toStdString());
      if (name == QLatin1String("th")) row = nullptr;  // header rows are not data
      if (name == QLatin1String("pre")) h.pre = xml.readElementText().toStdString();
    } else if (xml.isEndElement()) {
      if (xml.name() == QLatin1String("figure")) figure.clear();
      if (xml.name() == QLatin1String("table")) table.clear();
    }
  }
  if (xml.hasError()) h.error = xml.errorString() + " at line " + QString::number(xml.lineNumber());
  for (auto& [id, rows] : h.tables) {
    std::erase_if(rows, [](const std::vector<std::string>& r) { return r.empty(); });
  }
  return h;
}

bool table_has(const Html& h, const std::string& table, const std::string& cell) {
  if (!h.tables.count(table)) return false;
  for (const auto& r : h.tables.at(table)) {
    for (const auto& c : r) {
      if (c == cell) return true;
    }
  }
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A second matrix: one budget, two predictors x two intervals p, two seeds; memory in MB.
ExperimentResult sweep_result() {
  ExperimentResult r;
  r.config.name = "sweep";
  r.config.budgets = {"60%"};
  r.config.predictors = {"emoe-a", "emoe-b"};
  r.config.intervals = {20, 40};
  r.config.schedulers = {"emoe"};
  r.config.arrival_rates = {2.0};
  r.config.seeds = {1, 2};
  for (const auto& pt : experiment::expand_matrix(r.config)) {
    PointResult p;
    p.point = pt;
    const int pred = pt.predictor == "emoe-a" ? 0 : 1;
    const double seed = static_cast<double>(pt.seed);
    p.run.requests = 4;
    p.run.completed = 4;
    p.run.mean_e2e_ms = 100.0 + pred * 50 + pt.interval + seed * 10;
    // The second seed of emoe-b at p=40 completed nothing: its latency is undefined.
    if (pred == 1 && pt.interval == 40 && pt.seed == 2) {
      p.run.completed = 0;
      p.run.mean_e2e_ms = 0.0;
    }
    p.accuracy_measured = true;
    p.accuracy = 0.9 - 0.001 * pt.interval - 0.01 * pred + 0.002 * seed;
    p.hit_rate = 0.8 - 0.002 * pt.interval + 0.01 * seed;
    p.peak_total_bytes = 5'000'000 + 1'000'000ull * static_cast<uint64_t>(pred);
    r.points.push_back(p);
  }
  return r;
}

}  // namespace

class TestExperimentReport : public QObject {
  Q_OBJECT

 private slots:
  void plots_of_the_scheduler_matrix() {
    const ExperimentResult r = report_test::synthetic_result();
    const std::vector<Plot> plots = experiment_plots(r);
    QCOMPARE(ids(plots), (std::vector<std::string>{
                             "latency_vs_rate", "latency_p90_vs_rate", "latency_p99_vs_rate",
                             "ttft_vs_rate", "slo_vs_rate", "throughput", "memory_vs_accuracy",
                             "memory_over_time", "capacity_batch", "capacity_prompt"}));

    // Rate plots: a series per scheduler and budget (the budget varies), x ascending.
    const struct {
      const char* id;
      double (*y)(int, int, double);
    } rate_plots[] = {
        {"latency_vs_rate", [](int s, int b, double x) { return report_test::mean_e2e(s, b, x); }},
        {"latency_p90_vs_rate",
         [](int s, int b, double x) { return 1.5 * report_test::mean_e2e(s, b, x); }},
        {"latency_p99_vs_rate",
         [](int s, int b, double x) { return 2.0 * report_test::mean_e2e(s, b, x); }},
        {"ttft_vs_rate", [](int s, int, double x) { return 10.0 * (s + 1) + x; }},
        {"slo_vs_rate", [](int s, int b, double x) { return 100.0 * report_test::slo(s, b, x); }},
        {"throughput", [](int s, int, double x) { return 50.0 * x - s; }},
    };
    for (const auto& rp : rate_plots) {
      const Plot* plot = find_plot(plots, rp.id);
      QVERIFY(plot && !plot->bars());
      QCOMPARE(plot->series.size(), size_t{6});
      size_t k = 0;
      for (int b = 0; b < 2; ++b) {
        for (int s = 0; s < 3; ++s, ++k) {
          const std::string name = std::string(kSchedulers[s]) + ", " + kBudgets[b];
          QCOMPARE(plot->series[k].name, name);  // in matrix order
          QCOMPARE(plot->series[k].x, (std::vector<double>{1, 2, 4}));
          for (int i = 0; i < 3; ++i) {
            QVERIFY2(near(plot->series[k].y[static_cast<size_t>(i)], rp.y(s, b, kRates[i])),
                     (std::string(rp.id) + " " + name).c_str());
          }
        }
      }
      QVERIFY(plot->x_label.find("Arrival rate") != std::string::npos);
    }

    // Memory vs accuracy: one series (one predictor), a point per budget, x in GB ascending.
    const Plot* mem = find_plot(plots, "memory_vs_accuracy");
    QVERIFY(mem);
    QCOMPARE(mem->series.size(), size_t{1});
    QCOMPARE(mem->series[0].name, std::string("emoe-a"));
    QVERIFY(mem->x_label.find("(GB)") != std::string::npos);
    double gb[2] = {0, 0};
    for (int b = 0; b < 2; ++b) {
      for (double rate : kRates)
        gb[b] += static_cast<double>(report_test::peak_bytes(b, rate)) / 3e9;
    }
    QCOMPARE(mem->series[0].x.size(), size_t{2});
    QVERIFY(near(mem->series[0].x[0], gb[1]));  // 60% uses less memory: first
    QVERIFY(near(mem->series[0].x[1], gb[0]));
    QVERIFY(near(mem->series[0].y[0], 90.0));
    QVERIFY(near(mem->series[0].y[1], 100.0));

    // Memory over time: 8 of the 18 traces, spread evenly, named by index and varying dims.
    const Plot* trace = find_plot(plots, "memory_over_time");
    QVERIFY(trace);
    QCOMPARE(trace->series.size(), size_t{8});
    for (size_t i = 0; i < 8; ++i) {
      const auto idx = static_cast<size_t>(std::lround(i * 17.0 / 7.0));
      const experiment::ExperimentPoint& pt = r.points[idx].point;
      std::ostringstream rate;
      rate << pt.arrival_rate;
      const std::string name = "#" + std::to_string(idx) + " " + pt.scheduler + ", " + pt.budget +
                               ", " + rate.str() + "/s";
      QCOMPARE(trace->series[i].name, name);
      QCOMPARE(trace->series[i].x, (std::vector<double>{0, 0.25, 0.5, 0.75, 1.0}));
      QVERIFY(near(trace->series[i].y[4], 1.5));  // GB: dense 1 + experts 0.5
    }
    QVERIFY(trace->y_label.find("(GB)") != std::string::npos);

    // Capacity: two bar plots over the budgets.
    const Plot* batch = find_plot(plots, "capacity_batch");
    const Plot* prompt = find_plot(plots, "capacity_prompt");
    QVERIFY(batch && prompt && batch->bars() && prompt->bars());
    QCOMPARE(batch->categories, (std::vector<std::string>{"100%", "60%"}));
    QCOMPARE(batch->series.size(), size_t{1});
    QCOMPARE(batch->series[0].name, std::string("max batch"));
    QCOMPARE(batch->series[0].y, (std::vector<double>{4, 9}));
    QCOMPARE(prompt->series[0].name, std::string("max prompt (tokens)"));
    QCOMPARE(prompt->series[0].y, (std::vector<double>{256, 700}));
  }

  void plots_of_the_predictor_sweep() {
    const ExperimentResult r = sweep_result();
    const std::vector<Plot> plots = experiment_plots(r);
    QVERIFY(find_plot(plots, "p_sweep"));
    QVERIFY(!find_plot(plots, "capacity_batch"));
    QVERIFY(!find_plot(plots, "memory_over_time"));  // no traces

    // Latency: scheduler + predictor + p (they vary; the budget does not); seeds averaged,
    // a point that completed nothing left out of the mean.
    const Plot* lat = find_plot(plots, "latency_vs_rate");
    QCOMPARE(lat->series.size(), size_t{4});
    for (int pred = 0; pred < 2; ++pred) {
      for (int p : {20, 40}) {
        const std::string name =
            std::string("emoe, emoe-") + (pred ? "b" : "a") + ", p=" + std::to_string(p);
        const Series* s = find_series(*lat, name);
        QVERIFY2(s, name.c_str());
        QCOMPARE(s->x, std::vector<double>{2.0});
        const double seed1 = 100.0 + pred * 50 + p + 10, seed2 = seed1 + 10;
        const double expected = (pred == 1 && p == 40) ? seed1 : (seed1 + seed2) / 2;
        QVERIFY2(near(s->y[0], expected), name.c_str());
      }
    }

    // p sweep: accuracy and hit rate per predictor, in %, over p ascending.
    const Plot* sweep = find_plot(plots, "p_sweep");
    std::vector<std::string> names;
    for (const Series& s : sweep->series) names.push_back(s.name);
    QCOMPARE(names, (std::vector<std::string>{"emoe-a accuracy", "emoe-a hit rate",
                                              "emoe-b accuracy", "emoe-b hit rate"}));
    for (int pred = 0; pred < 2; ++pred) {
      const std::string base = pred ? "emoe-b" : "emoe-a";
      const Series* acc = find_series(*sweep, base + " accuracy");
      const Series* hit = find_series(*sweep, base + " hit rate");
      QCOMPARE(acc->x, (std::vector<double>{20, 40}));
      QCOMPARE(hit->x, (std::vector<double>{20, 40}));
      for (size_t i = 0; i < 2; ++i) {
        const double p = acc->x[i];
        const double a = 100.0 * (0.9 - 0.001 * p - 0.01 * pred + 0.002 * 1.5);
        const double h = 100.0 * (0.8 - 0.002 * p + 0.01 * 1.5);
        QVERIFY(near(acc->y[i], a));
        QVERIFY(near(hit->y[i], h));
      }
    }

    // Memory vs accuracy in MB: a series per predictor + p (p varies), one budget each.
    const Plot* mem = find_plot(plots, "memory_vs_accuracy");
    QVERIFY(mem->x_label.find("(MB)") != std::string::npos);
    const Series* b40 = find_series(*mem, "emoe-b, p=40");
    QVERIFY(b40);
    QCOMPARE(b40->x, std::vector<double>{6.0});
  }

  void nothing_to_plot() {
    ExperimentResult r;
    r.config.name = "empty";
    QVERIFY(experiment_plots(r).empty());
    const Html h = parse_html(experiment_report_html(r));
    QVERIFY2(h.error.isEmpty(), qPrintable(h.error));
    QVERIFY(h.figure_series.empty());
    const auto pdf = report_test::parse_pdf(experiment_report_pdf(r));
    QVERIFY2(pdf.error.empty(), pdf.error.c_str());
    QVERIFY(pdf.pages.size() >= 3);  // title, tables, configuration
  }

  void html_report() {
    const ExperimentResult r = report_test::synthetic_result();
    const std::string html = experiment_report_html(r);
    QVERIFY(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
    const Html h = parse_html(html);
    QVERIFY2(h.error.isEmpty(), qPrintable(h.error));
    QVERIFY(!h.script);
    QVERIFY(html.find("src=") == std::string::npos);  // nothing external
    for (const char* id : {"summary", "plots", "points", "capacity", "requests", "configuration",
                           "model", "machine"}) {
      QVERIFY2(std::find(h.section_ids.begin(), h.section_ids.end(), id) != h.section_ids.end(),
               id);
    }
    // Every plot as an inline SVG with its series.
    for (const Plot& plot : experiment_plots(r)) {
      const std::string fig = "fig-" + plot.id;
      QVERIFY2(html.find("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" id=\"plot-" +
                         plot.id + "\"") != std::string::npos,
               plot.id.c_str());
      std::vector<std::string> names;
      for (const Series& s : plot.series) names.push_back(s.name);
      QCOMPARE(h.figure_series.at(fig), names);
    }
    // Tables: a row per point in summary and points, every label shown.
    QCOMPARE(h.tables.at("table-summary").size(), r.points.size());
    QCOMPARE(h.tables.at("table-points").size(), r.points.size());
    for (const PointResult& p : r.points) {
      QVERIFY(table_has(h, "table-summary", p.point.label()));
      QVERIFY(table_has(h, "table-points", p.point.label()));
    }
    // Headline numbers as shown: point 0 (emoe, 100%, rate 1): mean E2E 110.0, SLO 99.0 %.
    const auto& row0 = h.tables.at("table-summary")[0];
    QCOMPARE(row0[0], std::string("0"));
    QCOMPARE(row0[2], std::string("99.0"));
    QCOMPARE(row0[3], std::string("110.0"));
    QCOMPARE(row0[4], std::string("165.0"));
    QCOMPARE(h.tables.at("table-capacity").size(), size_t{2});
    QVERIFY(table_has(h, "table-capacity", "700"));
    QCOMPARE(h.tables.at("table-requests").size(), r.points.size());
    QVERIFY(table_has(h, "table-model", "demo-moe"));
    QVERIFY(table_has(h, "table-machine", "Test CPU 9000"));
    // The configuration as readable JSON that parses back.
    auto cfg = parse_json(h.pre);
    QVERIFY2(cfg.ok(), cfg.status().message().c_str());
    QCOMPARE(cfg->find("name")->as_string(), std::string("synthetic"));
    QVERIFY(h.pre.find("\n  \"") != std::string::npos);  // indented

    ReportOptions no_requests;
    no_requests.request_table = false;
    no_requests.title = "Custom title";
    const std::string small = experiment_report_html(r, no_requests);
    QVERIFY(parse_html(small).tables.count("table-requests") == 0);
    QVERIFY(small.find("<title>Custom title</title>") != std::string::npos);
  }

  void pdf_report() {
    const ExperimentResult r = report_test::synthetic_result();
    const std::vector<Plot> plots = experiment_plots(r);
    const std::string bytes = experiment_report_pdf(r);
    const auto pdf = report_test::parse_pdf(bytes);
    QVERIFY2(pdf.error.empty(), pdf.error.c_str());
    const size_t n = pdf.pages.size();
    // Title page first, with model and machine.
    QVERIFY(report_test::page_shows(pdf.pages[0], "eMoE experiment: synthetic"));
    QVERIFY(report_test::page_shows(pdf.pages[0], "demo-moe"));
    QVERIFY(report_test::page_shows(pdf.pages[0], "Test CPU 9000"));
    // Then one page per plot with its title, axis labels and every series name.
    for (size_t i = 0; i < plots.size(); ++i) {
      const auto& page = pdf.pages.at(1 + i);
      QVERIFY2(report_test::page_shows(page, plots[i].title), plots[i].id.c_str());
      QVERIFY(report_test::page_shows(page, plots[i].y_label));
      for (const Series& s : plots[i].series) {
        QVERIFY2(report_test::page_shows(page, utf8_to_winansi(s.name)), s.name.c_str());
      }
    }
    // Then tables and the configuration; every remaining page is one of them.
    std::map<std::string, size_t> kinds;
    for (size_t i = 1 + plots.size(); i < n; ++i) {
      const std::string heading = pdf.pages[i].texts.at(0);
      std::string kind;
      for (const char* k : {"Summary", "Points", "Capacity study", "Requests", "Configuration"}) {
        if (heading.rfind(k, 0) == 0) kind = k;
      }
      QVERIFY2(!kind.empty(), heading.c_str());
      ++kinds[kind];
    }
    QCOMPARE(n, 1 + plots.size() + kinds["Summary"] + kinds["Points"] + kinds["Capacity study"] +
                    kinds["Requests"] + kinds["Configuration"]);
    QVERIFY(kinds["Summary"] >= 1 && kinds["Capacity study"] >= 1 && kinds["Requests"] >= 1);
    QVERIFY(kinds["Points"] >= 2);  // 53 columns do not fit one page width
    // Every point's label in full on the summary pages; every point on the points pages.
    std::set<std::string> summary_texts, points_texts;
    for (size_t i = 1 + plots.size(); i < n; ++i) {
      const auto& texts = pdf.pages[i].texts;
      if (texts[0].rfind("Summary", 0) == 0) summary_texts.insert(texts.begin(), texts.end());
      if (texts[0].rfind("Points", 0) == 0) points_texts.insert(texts.begin(), texts.end());
    }
    for (const PointResult& p : r.points) {
      QVERIFY2(summary_texts.count(p.point.label()), p.point.label().c_str());
      QVERIFY(points_texts.count(p.point.label()));
    }
    QVERIFY(points_texts.count("Run id"));  // the last column made it
    // Footers count the pages.
    for (size_t i = 0; i < n; ++i) {
      const std::string footer =
          "eMoE experiment: synthetic - page " + std::to_string(i + 1) + " of " + std::to_string(n);
      QVERIFY2(report_test::page_shows(pdf.pages[i], footer), footer.c_str());
    }
    QVERIFY(pdf.info.find("/Title (eMoE experiment: synthetic)") != std::string::npos);

    ReportOptions no_requests;
    no_requests.request_table = false;
    const auto smaller = report_test::parse_pdf(experiment_report_pdf(r, no_requests));
    QVERIFY(smaller.error.empty());
    QCOMPARE(smaller.pages.size(), n - kinds["Requests"]);
  }

  void hostile_names() {
    ExperimentResult r = report_test::synthetic_result();
    const std::string hostile = "<b>&\"(x)\\";
    r.config.name = hostile;
    r.model.name = hostile;
    for (PointResult& p : r.points) {
      if (p.point.scheduler == "sjf") p.point.scheduler = hostile;
    }
    const std::string html = experiment_report_html(r);
    QVERIFY(html.find("<b>") == std::string::npos);
    const Html h = parse_html(html);
    QVERIFY2(h.error.isEmpty(), qPrintable(h.error));
    const std::vector<std::string>& names = h.figure_series.at("fig-latency_vs_rate");
    QVERIFY(std::find(names.begin(), names.end(), hostile + ", 60%") != names.end());
    QVERIFY(table_has(h, "table-model", hostile));

    const std::string bytes = experiment_report_pdf(r);
    const auto pdf = report_test::parse_pdf(bytes);
    QVERIFY2(pdf.error.empty(), pdf.error.c_str());
    QVERIFY(report_test::page_shows(pdf.pages[1], hostile + ", 60%"));
    QVERIFY(bytes.find("(<b>&\"\\(x\\)\\\\, 60%) Tj") != std::string::npos);
    QVERIFY(pdf.info.find("/Title (eMoE experiment: <b>&\"\\(x\\)\\\\)") != std::string::npos);
  }

  void writes_the_five_files() {
    QTemporaryDir tmp;
    const ExperimentResult r = report_test::synthetic_result();
    const std::string dir = (std::filesystem::path(tmp.path().toStdString()) / "a" / "b").string();
    auto written = write_experiment_report(r, dir);
    QVERIFY2(written.ok(), written.status().message().c_str());
    std::set<std::string> names;
    for (const std::string& p : *written) {
      QVERIFY(std::filesystem::is_regular_file(p));
      QVERIFY(std::filesystem::file_size(p) > 0);
      names.insert(std::filesystem::path(p).filename().string());
    }
    QCOMPARE(names, (std::set<std::string>{"report.html", "report.pdf", "summary.json",
                                           "requests.csv", "points.csv"}));
    QVERIFY(is_valid_json(read_file(dir + "/summary.json")));
    QVERIFY(report_test::parse_pdf(read_file(dir + "/report.pdf")).error.empty());
    QVERIFY(parse_html(read_file(dir + "/report.html")).error.isEmpty());
    // points.csv: a header of keys and a row per point; labels quoted only when needed.
    const std::string csv = read_file(dir + "/points.csv");
    QCOMPARE(static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')), 1 + r.points.size());
    QVERIFY(csv.rfind("index,label,budget,predictor,interval,scheduler,arrival_rate,", 0) == 0);
    QVERIFY(csv.find("\n0," + r.points[0].point.label() +
                     ",100%,emoe-a,40,emoe,1,fallback,1,10,") != std::string::npos);
    QVERIFY(csv.find(",2001000000,") != std::string::npos);  // peak bytes raw, not MB
    // Writing again replaces the files.
    QVERIFY(write_experiment_report(r, dir).ok());
  }

  void write_errors_name_the_path() {
    QTemporaryDir tmp;
    const std::string file = tmp.path().toStdString() + "/plain-file";
    { std::ofstream(file) << "x"; }
    // Tests run as root, so permissions cannot make a directory unwritable: a path under a
    // regular file cannot be created by anyone.
    auto under = write_experiment_report(report_test::synthetic_result(), file + "/report");
    QVERIFY(!under.ok());
    QCOMPARE(under.status().code(), StatusCode::IoError);
    QVERIFY2(under.status().message().find(file + "/report") != std::string::npos,
             under.status().message().c_str());
    auto is_file = write_experiment_report(report_test::synthetic_result(), file);
    QVERIFY(!is_file.ok());
    QCOMPARE(is_file.status().code(), StatusCode::IoError);
    QVERIFY(is_file.status().message().find(file) != std::string::npos);
    // A report file that cannot be written (a directory in its place) is named.
    const std::string dir = tmp.path().toStdString() + "/out";
    std::filesystem::create_directories(dir + "/report.pdf");
    auto blocked = write_experiment_report(report_test::synthetic_result(), dir);
    QVERIFY(!blocked.ok());
    QCOMPARE(blocked.status().code(), StatusCode::IoError);
    QVERIFY2(blocked.status().message().find(dir + "/report.pdf") != std::string::npos,
             blocked.status().message().c_str());
  }
};

QTEST_GUILESS_MAIN(TestExperimentReport)
#include "test_experiment_report.moc"
