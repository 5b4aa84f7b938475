// The studio's views against hand-computed expectations: heatmap counts per scope and per-layer
// shares, memory stacking in MiB, SLO attainment, token trace rows, the console's Enter key,
// token tints, escaping and selection, and plot/report export file formats.
#include <qcustomplot.h>

#include <QCheckBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTextBlock>
#include <QTextBrowser>
#include <QtConcurrent>
#include <QtTest>
#include <cmath>

#include "ui/expert_heatmap_view.h"
#include "ui/latency_plot_view.h"
#include "ui/memory_plot_view.h"
#include "ui/plot_export.h"
#include "ui/prompt_console.h"
#include "ui/report_export.h"
#include "ui/token_trace_view.h"
#include "ui/view_style.h"

using namespace emoe;
using namespace emoe::ui;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

CountDelta delta(int64_t request, const char* task, std::vector<int64_t> used) {
  CountDelta d;
  d.request_id = request;
  d.task = task;
  d.router = used;  // not drawn; the heatmap shows experts actually used
  d.used = std::move(used);
  return d;
}

QCPGraph* graph_named(QCustomPlot* plot, const QString& name) {
  for (int i = 0; i < plot->graphCount(); ++i) {
    if (plot->graph(i)->name() == name) return plot->graph(i);
  }
  return nullptr;
}

std::vector<double> values_of(QCPGraph* g) {
  std::vector<double> out;
  for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it)
    out.push_back(it->value);
  return out;
}

std::vector<double> keys_of(QCPGraph* g) {
  std::vector<double> out;
  for (auto it = g->data()->constBegin(); it != g->data()->constEnd(); ++it) out.push_back(it->key);
  return out;
}

QByteArray read_all(const QString& path) {
  QFile f(path);
  if (!f.open(QIODevice::ReadOnly)) return {};
  return f.readAll();
}

std::vector<int> ints(const QVariant& v) {
  std::vector<int> out;
  for (const QVariant& x : v.toList()) out.push_back(x.toInt());
  return out;
}

// The text fragment of the console history whose anchor is `href`.
QTextFragment fragment_with_href(QTextDocument* doc, const QString& href) {
  for (QTextBlock b = doc->begin(); b.isValid(); b = b.next()) {
    for (auto it = b.begin(); !it.atEnd(); ++it) {
      if (it.fragment().charFormat().anchorHref() == href) return it.fragment();
    }
  }
  return {};
}

RequestStats request(double ttft, double e2e, std::optional<double> slo_ttft,
                     std::optional<double> slo_e2e, const char* error = "") {
  RequestStats r;
  r.ttft_ms = ttft;
  r.e2e_ms = e2e;
  r.slo_ttft_ms = slo_ttft;
  r.slo_e2e_ms = slo_e2e;
  r.error = error;
  return r;
}

}  // namespace

class TestViews : public QObject {
  Q_OBJECT

 private slots:
  void heatmap_counts_per_scope();
  void heatmap_normalise_pause_and_tooltip();
  void memory_stacking_and_markers();
  void memory_history_is_capped_and_markers_thinned();
  void latency_slo_attainment();
  void latency_steps_append_incrementally();
  void token_trace_rows();
  void console_enter_sends();
  void console_tokens_tint_escape_select();
  void console_history_keeps_the_latest_requests();
  void expert_colors_distinct();
  void plot_export_formats();
  void report_html_and_pdf();
};

// 2 layers x 3 experts; requests 1 (qa) and 2 (code).
void TestViews::heatmap_counts_per_scope() {
  ExpertHeatmapView view;
  view.set_shape(2, 3);
  view.add_counts({delta(1, "qa", {1, 0, 2, 0, 3, 0}), delta(2, "code", {0, 4, 0, 1, 1, 1}),
                   delta(1, "qa", {2, 0, 0, 0, 0, 5})});
  view.add_counts({delta(3, "qa", {9, 9, 9})});  // wrong shape: ignored
  using S = ExpertHeatmapView::Scope;
  // Hand sums of the deltas above.
  QCOMPARE(view.counts(S::Session), (std::vector<int64_t>{3, 4, 2, 1, 4, 6}));
  QCOMPARE(view.counts(S::Task, "qa"), (std::vector<int64_t>{3, 0, 2, 0, 3, 5}));
  QCOMPARE(view.counts(S::Task, "code"), (std::vector<int64_t>{0, 4, 0, 1, 1, 1}));
  QCOMPARE(view.counts(S::Request), (std::vector<int64_t>{3, 0, 2, 0, 3, 5}));  // request 1
  QCOMPARE(view.counts(S::Task, "none"), (std::vector<int64_t>(6, 0)));
  QCOMPARE(view.tasks(), (QStringList{"code", "qa"}));

  view.add_counts({delta(2, "code", {0, 0, 1, 0, 2, 0})});
  QCOMPARE(view.counts(S::Request), (std::vector<int64_t>{0, 4, 1, 1, 3, 1}));  // request 2
  QCOMPARE(view.counts(S::Task, "code"), (std::vector<int64_t>{0, 4, 1, 1, 3, 1}));
  QCOMPARE(view.counts(S::Session), (std::vector<int64_t>{3, 4, 3, 1, 6, 6}));
  // Exact 64-bit counts: no float accumulation.
  const int64_t big = (int64_t{1} << 53) + 1;
  view.add_counts({delta(4, "qa", {big, 0, 0, 0, 0, 0})});
  QCOMPARE(view.counts(S::Session)[0], big + 3);

  view.clear();
  QCOMPARE(view.counts(S::Session), (std::vector<int64_t>(6, 0)));
  QVERIFY(view.tasks().isEmpty());
}

void TestViews::heatmap_normalise_pause_and_tooltip() {
  ExpertHeatmapView view;
  view.set_shape(2, 3);
  view.add_counts({delta(1, "qa", {3, 4, 3, 1, 6, 6})});
  view.set_scope(ExpertHeatmapView::Scope::Session);
  view.replot_if_dirty();
  auto* map = qobject_cast<QCPColorMap*>(view.plot()->plottable(0));
  QVERIFY(map != nullptr);
  // Absolute counts: cell(expert, layer).
  QCOMPARE(map->data()->cell(1, 0), 4.0);
  QCOMPARE(map->data()->cell(2, 1), 6.0);

  view.set_normalise_per_layer(true);
  view.replot_if_dirty();
  // Layer 0 sums to 10, layer 1 to 13.
  QVERIFY(std::abs(map->data()->cell(0, 0) - 0.3) < 1e-12);
  QVERIFY(std::abs(map->data()->cell(1, 0) - 0.4) < 1e-12);
  QVERIFY(std::abs(map->data()->cell(2, 0) - 0.3) < 1e-12);
  QVERIFY(std::abs(map->data()->cell(0, 1) - 1.0 / 13) < 1e-12);
  QVERIFY(std::abs(map->data()->cell(1, 1) - 6.0 / 13) < 1e-12);
  QVERIFY(view.findChild<QCheckBox*>("normalise")->isChecked());

  // Paused: the counts move on, the picture does not; resuming catches up.
  view.set_paused(true);
  view.add_counts({delta(2, "code", {0, 10, 0, 0, 0, 0})});
  view.replot_if_dirty();
  QVERIFY(std::abs(map->data()->cell(1, 0) - 0.4) < 1e-12);
  QCOMPARE(view.counts(ExpertHeatmapView::Scope::Session)[1], int64_t{14});
  view.set_paused(false);
  view.replot_if_dirty();
  QVERIFY(std::abs(map->data()->cell(1, 0) - 0.7) < 1e-12);  // 14 / 20

  // Tooltips: session counts {3,14,3 | 1,6,6}.
  QString tip = view.cell_tooltip(1, 2);
  QVERIFY2(tip.contains("layer 1, expert 2"), qPrintable(tip));
  QVERIFY2(tip.contains("count: 6"), qPrintable(tip));
  QVERIFY2(tip.contains("46.2%"), qPrintable(tip));  // 6 / 13
  QVERIFY2(!tip.contains("resident"), qPrintable(tip));
  view.set_residency({1, 0, 0, 0, 1, 1});
  tip = view.cell_tooltip(1, 2);
  QVERIFY2(tip.contains("resident: yes"), qPrintable(tip));
  tip = view.cell_tooltip(0, 1);
  QVERIFY2(tip.contains("count: 14") && tip.contains("70.0%"), qPrintable(tip));
  QVERIFY2(tip.contains("resident: no"), qPrintable(tip));
  QVERIFY(view.cell_tooltip(2, 0).isEmpty());  // no such layer

  // The residency overlay marks exactly the resident cells (expert, layer).
  view.replot_if_dirty();
  QCPGraph* overlay = view.plot()->graph(0);
  QVERIFY(overlay->visible());
  QCOMPARE(keys_of(overlay).size(), size_t{3});
  std::vector<std::pair<double, double>> cells;
  for (auto it = overlay->data()->constBegin(); it != overlay->data()->constEnd(); ++it) {
    cells.emplace_back(it->key, it->value);
  }
  std::sort(cells.begin(), cells.end());
  QCOMPARE(cells, (std::vector<std::pair<double, double>>{{0, 0}, {1, 1}, {2, 1}}));

  // Task scope shows only that task; the tooltip says which.
  view.set_scope(ExpertHeatmapView::Scope::Task, "code");
  view.set_normalise_per_layer(false);
  view.replot_if_dirty();
  QCOMPARE(map->data()->cell(1, 0), 10.0);
  QCOMPARE(map->data()->cell(2, 1), 0.0);
  QVERIFY(view.cell_tooltip(0, 1).contains("task code"));
}

void TestViews::memory_stacking_and_markers() {
  MemoryPlotView view;
  auto mib = [](double m) { return static_cast<uint64_t>(m * kMiB); };
  MemoryPoint p0{0.5, mib(100.5), mib(50), mib(10), mib(80)};
  MemoryPoint p1{1.0, mib(100.5), mib(70), mib(20.25), mib(80)};
  MemoryPoint p2{2.0, mib(100.5), mib(0), mib(0), 0};  // no device tier
  view.append({p0, p1});
  view.append({p2});
  QCOMPARE(view.points().size(), size_t{3});
  QCOMPARE(view.points()[1].kv_bytes, mib(20.25));

  ExpertEventPoint load{1.5, experts::ExpertEventKind::LoadFinished, 0, 1, 1};
  ExpertEventPoint evict{0.7, experts::ExpertEventKind::Evicted, 0, 2, 1};
  ExpertEventPoint hit{0.8, experts::ExpertEventKind::Hit, 0, 3, 1};
  view.add_events({load, evict, hit});
  StepStats s0;
  s0.time_s = 0.6;
  s0.n_tokens = 3;
  s0.hits = 3;
  s0.misses = 1;
  s0.bytes_loaded = 3 * 4096;
  StepStats s1 = s0;
  s1.time_s = 0.9;
  s1.hits = s1.misses = 0;  // no MoE lookups: no hit rate point
  s1.bytes_loaded = 0;
  view.add_steps({s0, s1});
  view.replot_if_dirty();

  QCustomPlot* plot = view.plot();
  QCPGraph* dense = graph_named(plot, "dense");
  QCPGraph* experts = graph_named(plot, "+ experts");
  QCPGraph* kv = graph_named(plot, "+ KV");
  QCPGraph* budget = graph_named(plot, "budget");
  QVERIFY(dense && experts && kv && budget);
  QCOMPARE(experts->channelFillGraph(), dense);
  QCOMPARE(kv->channelFillGraph(), experts);
  QCOMPARE(keys_of(dense), (std::vector<double>{0.5, 1.0, 2.0}));
  QCOMPARE(values_of(dense), (std::vector<double>{100.5, 100.5, 100.5}));
  QCOMPARE(values_of(experts), (std::vector<double>{150.5, 170.5, 100.5}));
  QCOMPARE(values_of(kv), (std::vector<double>{160.5, 190.75, 100.5}));
  const std::vector<double> b = values_of(budget);
  QCOMPARE(b.size(), size_t{3});
  QCOMPARE(b[0], 190.5);   // 100.5 + 80 + 10
  QCOMPARE(b[1], 200.75);  // 100.5 + 80 + 20.25
  QVERIFY(std::isnan(b[2]));

  // Markers sit on the experts curve (a step curve: the last point at or before the event).
  QCPGraph* loads = graph_named(plot, "loads");
  QCPGraph* evictions = graph_named(plot, "evictions");
  QCOMPARE(keys_of(loads), (std::vector<double>{1.5}));
  QCOMPARE(values_of(loads), (std::vector<double>{170.5}));
  QCOMPARE(keys_of(evictions), (std::vector<double>{0.7}));
  QCOMPARE(values_of(evictions), (std::vector<double>{150.5}));

  QCPGraph* hit_rate = graph_named(plot, "hit rate");
  QCPGraph* per_token = graph_named(plot, "KiB loaded / token");
  QVERIFY(hit_rate && per_token);
  QCOMPARE(keys_of(hit_rate), (std::vector<double>{0.6}));
  QCOMPARE(values_of(hit_rate), (std::vector<double>{75.0}));
  QCOMPARE(values_of(per_token), (std::vector<double>{4.0, 0.0}));
  QVERIFY(per_token->valueAxis() != hit_rate->valueAxis());  // second y axis

  view.clear();
  view.replot_if_dirty();
  QVERIFY(view.points().empty());
  QVERIFY(dense->data()->isEmpty());
}

void TestViews::memory_history_is_capped_and_markers_thinned() {
  MemoryPlotView view;
  // Events before any memory point wait for the curve, then sit on its first value.
  view.add_events({ExpertEventPoint{0.1, experts::ExpertEventKind::LoadFinished, 0, 0, 1}});
  view.replot_if_dirty();
  QCPGraph* loads = graph_named(view.plot(), "loads");
  QCPGraph* evictions = graph_named(view.plot(), "evictions");
  QVERIFY(loads && evictions);
  QVERIFY(loads->data()->isEmpty());
  view.append({MemoryPoint{0.2, 1 << 20, 3 << 20, 0, 0}});
  QCOMPARE(keys_of(loads), (std::vector<double>{0.1}));
  QCOMPARE(values_of(loads), (std::vector<double>{4.0}));  // 1 + 3 MiB

  // Appended in many small batches (as the GUI tick does): the graphs hold every point in
  // order until the history passes its cap, then the newest ones.
  QCPGraph* dense = graph_named(view.plot(), "dense");
  const int n = 30000;
  for (int i = 0; i < n; i += 10) {
    std::vector<MemoryPoint> batch;
    for (int j = i; j < i + 10; ++j) batch.push_back(MemoryPoint{1.0 + j * 1e-3, 1 << 20, 0, 0, 0});
    view.append(batch);
    view.replot_if_dirty();
  }
  const std::vector<double> keys = keys_of(dense);
  QVERIFY(keys.size() >= 20000 && keys.size() <= 25000);
  QVERIFY(std::is_sorted(keys.begin(), keys.end()));
  QCOMPARE(keys.back(), 1.0 + (n - 1) * 1e-3);
  QVERIFY(std::abs(keys[keys.size() - 20000] - (1.0 + (n - 20000) * 1e-3)) < 1e-9);
  QVERIFY(view.points().size() >= 20000 && view.points().size() <= 25000);
  QCOMPARE(view.points().back().time_s, keys.back());
  // The time axis follows the history.
  QCOMPARE(view.plot()->axisRect(0)->axis(QCPAxis::atBottom)->range().upper, keys.back());

  // Markers of one kind closer than 50 ms are thinned to the first; kinds are independent.
  std::vector<ExpertEventPoint> events;
  for (int i = 0; i < 10; ++i) {
    events.push_back({20.0 + i * 0.004, experts::ExpertEventKind::LoadFinished, 0, 1, 1});
    events.push_back({20.0 + i * 0.004, experts::ExpertEventKind::Evicted, 0, 2, 1});
  }
  events.push_back({20.2, experts::ExpertEventKind::LoadFinished, 0, 3, 1});
  view.add_events(events);
  std::vector<double> lk = keys_of(loads), ek = keys_of(evictions);
  QCOMPARE(std::vector<double>(lk.end() - 2, lk.end()), (std::vector<double>{20.0, 20.2}));
  QCOMPARE(ek, (std::vector<double>{20.0}));

  view.clear();
  QVERIFY(dense->data()->isEmpty() && loads->data()->isEmpty() && evictions->data()->isEmpty());
  view.append({MemoryPoint{0.5, 1 << 20, 0, 0, 0}});
  view.add_events({ExpertEventPoint{0.6, experts::ExpertEventKind::LoadFinished, 0, 0, 1}});
  QCOMPARE(keys_of(loads), (std::vector<double>{0.6}));  // spacing restarts after clear()
}

void TestViews::latency_slo_attainment() {
  LatencyPlotView view;
  auto* label = view.findChild<QLabel*>("slo_attainment");
  QVERIFY(label != nullptr);
  QCOMPARE(view.slo_attainment(), -1.0);
  QCOMPARE(label->text(), QString("no SLOs set"));
  view.add_requests({request(120, 900, std::nullopt, std::nullopt)});
  QCOMPARE(view.slo_attainment(), -1.0);
  QCOMPARE(label->text(), QString("no SLOs set"));

  view.clear();
  view.add_requests({
      request(100, 900, 200.0, 1000.0),                       // 1: both met
      request(300, 900, 250.0, std::nullopt),                 // 2: TTFT missed
      request(50, 400, std::nullopt, std::nullopt),           // 3: no SLO, not counted
      request(80, 1200, 100.0, 1000.0),                       // 4: TTFT met, E2E missed
      request(10, 20, 100.0, std::nullopt, "out of memory"),  // 5: failed: missed
  });
  view.add_requests({request(250, 500, 250.0, 500.0)});  // 6: met exactly at the limit
  // Requests with an SLO: 1, 2, 4, 5, 6; met: 1 and 6.
  QCOMPARE(view.slo_attainment(), 2.0 / 5.0);
  QCOMPARE(label->text(), QString("SLO attainment: 40% (2/5)"));
  QCOMPARE(view.requests().size(), size_t{6});

  StepStats prefill;
  prefill.phase = engine::Phase::Prefill;
  prefill.n_tokens = 16;
  prefill.seconds = 0.1;
  prefill.time_s = 1;
  StepStats d1;
  d1.phase = engine::Phase::Decode;
  d1.n_tokens = 1;
  d1.seconds = 0.02;
  d1.time_s = 1.1;
  StepStats d2 = d1;
  d2.seconds = 0.025;
  d2.time_s = 1.2;
  view.add_steps({prefill, d1, d2});
  view.replot_if_dirty();

  QCustomPlot* plot = view.plot();
  QCPGraph* met = graph_named(plot, "SLO met");
  QCPGraph* missed = graph_named(plot, "SLO missed");
  QVERIFY(met && missed);
  // Marks at x = index - 0.2 (TTFT) and index + 0.2 (E2E), y = the SLO.
  QCOMPARE(keys_of(met), (std::vector<double>{0.8, 1.2, 3.8, 5.8, 6.2}));
  QCOMPARE(values_of(met), (std::vector<double>{200, 1000, 100, 250, 500}));
  QCOMPARE(keys_of(missed), (std::vector<double>{1.8, 4.2, 4.8}));
  QCOMPARE(values_of(missed), (std::vector<double>{250, 1000, 100}));

  QCPGraph* smooth = graph_named(plot, "smoothed");
  QCPGraph* raw = graph_named(plot, "per step");
  QVERIFY(smooth && raw);
  QCOMPARE(keys_of(raw), (std::vector<double>{1.1, 1.2}));  // the prefill step is left out
  const std::vector<double> r = values_of(raw), s = values_of(smooth);
  QVERIFY(std::abs(r[0] - 50) < 1e-9 && std::abs(r[1] - 40) < 1e-9);
  QVERIFY(std::abs(s[0] - 50) < 1e-9 && std::abs(s[1] - (0.2 * 40 + 0.8 * 50)) < 1e-9);

  LatencyPlotView six;
  std::vector<RequestStats> reqs(5, request(10, 20, 50.0, 100.0));
  reqs.push_back(request(60, 20, 50.0, 100.0));
  six.add_requests(reqs);
  QCOMPARE(six.findChild<QLabel*>("slo_attainment")->text(), QString("SLO attainment: 83% (5/6)"));
}

void TestViews::latency_steps_append_incrementally() {
  // Steps arriving over several ticks give the same smoothed curve as one batch: a moving
  // average with weight 0.2 on the newest step, computed here by hand.
  LatencyPlotView view;
  std::vector<double> rates = {50, 40, 100, 25, 80};
  double ema = 0;
  std::vector<double> expect_smooth;
  for (size_t i = 0; i < rates.size(); ++i) {
    ema = i == 0 ? rates[i] : 0.2 * rates[i] + 0.8 * ema;
    expect_smooth.push_back(ema);
    StepStats s;
    s.phase = engine::Phase::Decode;
    s.n_tokens = 1;
    s.seconds = 1.0 / rates[i];
    s.time_s = 1.0 + static_cast<double>(i);
    view.add_steps({s});
    view.replot_if_dirty();
  }
  QCPGraph* smooth = graph_named(view.plot(), "smoothed");
  QCPGraph* raw = graph_named(view.plot(), "per step");
  QCOMPARE(keys_of(raw), (std::vector<double>{1, 2, 3, 4, 5}));
  const std::vector<double> r = values_of(raw), sm = values_of(smooth);
  for (size_t i = 0; i < rates.size(); ++i) {
    QVERIFY(std::abs(r[i] - rates[i]) < 1e-9);
    QVERIFY(std::abs(sm[i] - expect_smooth[i]) < 1e-9);
  }
  // The rate axis covers the fastest step; the time axis the steps.
  QCPAxisRect* bottom = view.plot()->axisRect(1);
  QVERIFY(std::abs(bottom->axis(QCPAxis::atLeft)->range().upper - 110) < 1e-9);
  QCOMPARE(bottom->axis(QCPAxis::atBottom)->range().lower, 1.0);
  QCOMPARE(bottom->axis(QCPAxis::atBottom)->range().upper, 5.0);

  // Requests added one at a time get consecutive indices, like one batch.
  view.add_requests({request(100, 900, 200.0, std::nullopt)});
  view.add_requests({request(300, 700, 250.0, std::nullopt)});
  QCOMPARE(keys_of(graph_named(view.plot(), "SLO met")), (std::vector<double>{0.8}));
  QCOMPARE(keys_of(graph_named(view.plot(), "SLO missed")), (std::vector<double>{1.8}));

  view.clear();
  view.replot_if_dirty();
  QVERIFY(raw->data()->isEmpty() && smooth->data()->isEmpty());
}

void TestViews::token_trace_rows() {
  TokenTelemetry t;
  t.request_id = 9;
  t.pos = 17;
  t.token_id = 1234;
  t.piece = " cat";
  t.phase = engine::Phase::Decode;
  t.dominant_expert = 3;
  LayerTrace l0;  // both experts resident
  l0.layer = 0;
  l0.router_experts = {3, 5};
  l0.router_weights = {0.62f, 0.38f};
  l0.router_resident = {1, 1};
  l0.used_experts = {3, 5};
  l0.used_weights = {0.62f, 0.38f};
  l0.used_loaded = {0, 0};
  LayerTrace l1;  // e7 missing, e1 computed instead (fallback)
  l1.layer = 1;
  l1.router_experts = {2, 7};
  l1.router_weights = {0.7f, 0.3f};
  l1.router_resident = {1, 0};
  l1.used_experts = {2, 1};
  l1.used_weights = {0.7f, 0.3f};
  l1.used_loaded = {0, 0};
  LayerTrace l2;  // e4 missing, loaded on demand (exact routing)
  l2.layer = 2;
  l2.router_experts = {4, 0};
  l2.router_weights = {0.55f, 0.45f};
  l2.router_resident = {0, 1};
  l2.used_experts = {4, 0};
  l2.used_weights = {0.55f, 0.45f};
  l2.used_loaded = {1, 0};
  t.layers = {l0, l1, l2};

  TokenTraceView view;
  view.show_token(t);
  QVERIFY(view.shown().has_value());
  QCOMPARE(view.shown()->token_id, 1234);
  const QString header = view.findChild<QLabel*>("token_header")->text();
  QVERIFY2(header.contains("\" cat\"") && header.contains("1234") && header.contains("17") &&
               header.contains("decode") && header.contains("request 9"),
           qPrintable(header));

  QTableWidget* table = view.table();
  QCOMPARE(table->rowCount(), 3);
  QCOMPARE(table->columnCount(), 4);
  QCOMPARE(table->item(0, 1)->text(), QString("e3 0.62, e5 0.38"));
  QCOMPARE(table->item(1, 2)->text(), QString("e2 0.70, e1 0.30"));
  QCOMPARE(table->item(0, 3)->text(), QString("e3 hit, e5 hit"));
  QCOMPARE(table->item(1, 3)->text(), QString::fromUtf8("e2 hit, e7 miss→fallback"));
  QCOMPARE(table->item(2, 3)->text(), QString("e4 loaded, e0 hit"));
  QCOMPARE(table->item(2, 0)->data(Qt::UserRole).toInt(), 2);
  QCOMPARE(ints(table->item(1, 1)->data(Qt::UserRole)), (std::vector<int>{2, 7}));
  QCOMPARE(ints(table->item(1, 2)->data(Qt::UserRole)), (std::vector<int>{2, 1}));
  QCOMPARE(ints(table->item(1, 2)->data(Qt::UserRole + 1)), (std::vector<int>{1}));
  QCOMPARE(ints(table->item(0, 2)->data(Qt::UserRole + 1)), (std::vector<int>{}));

  // Only the fallback substitution's Used cell is highlighted, with its explanation.
  QVERIFY(!table->item(0, 2)->data(Qt::BackgroundRole).isValid());
  QVERIFY(!table->item(2, 2)->data(Qt::BackgroundRole).isValid());
  QVERIFY(table->item(1, 2)->data(Qt::BackgroundRole).isValid());
  QVERIFY2(table->item(1, 2)->toolTip().contains("fallback for e7"),
           qPrintable(table->item(1, 2)->toolTip()));
  QVERIFY(table->item(0, 2)->toolTip().isEmpty());
  // Residency colours: hit (green), fallback (red, as the Used highlight), loaded (amber).
  const QPalette pal = view.palette();
  const QColor hit_bg = table->item(0, 3)->background().color();
  const QColor fallback_bg = table->item(1, 3)->background().color();
  const QColor loaded_bg = table->item(2, 3)->background().color();
  QCOMPARE(fallback_bg, table->item(1, 2)->background().color());
  QCOMPARE(hit_bg.rgb(), style::good_color(pal).rgb());
  QCOMPARE(fallback_bg.rgb(), style::bad_color(pal).rgb());
  QCOMPARE(loaded_bg.rgb(), style::warn_color(pal).rgb());
  QVERIFY(hit_bg.red() < hit_bg.green() && fallback_bg.red() > fallback_bg.green());
  for (const QColor& c : {hit_bg, fallback_bg, loaded_bg}) {
    QVERIFY(c.alpha() > 0 && c.alpha() < 255);  // a tint: the text stays readable
  }

  view.clear();
  QVERIFY(!view.shown().has_value());
  QCOMPARE(table->rowCount(), 0);
}

void TestViews::console_enter_sends() {
  PromptConsole console;
  console.show();
  QVERIFY(QTest::qWaitForWindowExposed(&console));
  QSignalSpy spy(&console, &PromptConsole::send_requested);
  auto* input = console.findChild<QPlainTextEdit*>("input");
  QVERIFY(input != nullptr);
  input->setFocus();
  QTest::keyClicks(input, "first line");
  QTest::keyClick(input, Qt::Key_Return, Qt::ShiftModifier);  // a new line, not a send
  QCOMPARE(spy.count(), 0);
  QTest::keyClicks(input, "a <b> & c");
  QTest::keyClick(input, Qt::Key_Return);
  QCOMPARE(spy.count(), 1);
  const auto req = spy.at(0).at(0).value<PromptRequest>();
  QCOMPARE(req.text, QString("first line\na <b> & c"));
  QCOMPARE(req.task, QString("chat"));
  QCOMPARE(req.max_new_tokens, 64);
  QVERIFY(input->toPlainText().isEmpty());

  QTest::keyClick(input, Qt::Key_Return);  // nothing typed: nothing sent
  QCOMPARE(spy.count(), 1);
  console.set_busy(true);
  console.set_input_text("while busy");
  QTest::keyClick(input, Qt::Key_Enter, Qt::KeypadModifier);
  QCOMPARE(spy.count(), 1);
  console.set_busy(false);
  console.send();
  QCOMPARE(spy.count(), 2);
  QCOMPARE(spy.at(1).at(0).value<PromptRequest>().text, QString("while busy"));
}

void TestViews::console_tokens_tint_escape_select() {
  PromptConsole console;
  console.resize(600, 400);
  console.show();
  QVERIFY(QTest::qWaitForWindowExposed(&console));
  console.set_n_expert(8);
  console.on_request_started(7, "say <i>hi</i>");
  auto tok = [](int pos, const std::string& piece, int dominant, double time_s) {
    TokenTelemetry t;
    t.request_id = 7;
    t.pos = pos;
    t.piece = piece;
    t.phase = engine::Phase::Decode;
    t.dominant_expert = dominant;
    t.time_s = time_s;
    return t;
  };
  // "é" (C3 A9) split over two tokens must come out whole.
  console.append_tokens({tok(5, "Hello", 2, 1.0), tok(6, " <b>&amp;", 5, 1.1)});
  console.append_tokens({tok(7, "\xC3", -1, 1.2), tok(8, "\xA9!", 6, 1.3)});
  QCOMPARE(console.tokens().size(), size_t{4});

  auto* history = console.findChild<QTextBrowser*>("history");
  QVERIFY(history != nullptr);
  const QString plain = history->toPlainText();
  QVERIFY2(plain.contains("say <i>hi</i>"), qPrintable(plain));
  QVERIFY2(plain.contains(QString::fromUtf8("Hello <b>&amp;é!")), qPrintable(plain));
  const QString html = history->toHtml();
  QVERIFY(html.contains("&lt;b&gt;&amp;amp;"));
  QVERIFY(html.contains("say &lt;i&gt;hi&lt;/i&gt;"));
  QVERIFY(!html.contains("<b>&amp;"));

  // Each token is an anchor tinted by its dominant expert's colour.
  QTextDocument* doc = history->document();
  const QTextFragment f0 = fragment_with_href(doc, "tok:0");
  const QTextFragment f1 = fragment_with_href(doc, "tok:1");
  const QTextFragment f3 = fragment_with_href(doc, "tok:3");
  QVERIFY(f0.isValid() && f1.isValid() && f3.isValid());
  QCOMPARE(f0.text(), QString("Hello"));
  QCOMPARE(f3.text(), QString::fromUtf8("é!"));
  QVERIFY(!fragment_with_href(doc, "tok:2").isValid());  // held its half character
  const QColor c0 = f0.charFormat().background().color();
  QCOMPARE(c0.rgb(), PromptConsole::expert_color(2, 8).rgb());
  QVERIFY(c0.alpha() > 0 && c0.alpha() < 255);
  QCOMPARE(f1.charFormat().background().color().rgb(), PromptConsole::expert_color(5, 8).rgb());
  QCOMPARE(f3.charFormat().background().color().rgb(), PromptConsole::expert_color(6, 8).rgb());

  QSignalSpy spy(&console, &PromptConsole::token_selected);
  console.select_token(1);
  QCOMPARE(spy.count(), 1);
  const auto picked = spy.at(0).at(0).value<TokenTelemetry>();
  QCOMPARE(picked.piece, std::string(" <b>&amp;"));
  QCOMPARE(picked.pos, 6);
  console.select_token(99);  // out of range: ignored
  QCOMPARE(spy.count(), 1);

  // A real click on the first token selects it.
  QTextCursor cursor(doc);
  cursor.setPosition(f0.position() + 2);
  const QPoint at = history->cursorRect(cursor).center();
  QTest::mouseClick(history->viewport(), Qt::LeftButton, {}, at);
  QTRY_VERIFY(spy.count() >= 2);  // hovering may select it first
  QCOMPARE(spy.last().at(0).value<TokenTelemetry>().piece, std::string("Hello"));

  RequestStats stats;
  stats.request_id = 7;
  stats.ttft_ms = 123.4;
  stats.prefill_tok_s = 812;
  stats.decode_tok_s = 45.24;
  stats.generated_tokens = 4;
  stats.stop_reason = "max_tokens";
  console.on_request_finished(stats);
  const QString status = console.findChild<QLabel*>("status")->text();
  QVERIFY2(status.contains("TTFT 123 ms") && status.contains("decode 45.2 tok/s") &&
               status.contains("prefill 812 tok/s"),
           qPrintable(status));

  console.clear();
  QVERIFY(console.tokens().empty());
  QVERIFY(history->toPlainText().isEmpty());
}

void TestViews::console_history_keeps_the_latest_requests() {
  PromptConsole console;
  console.set_n_expert(4);
  auto tok = [](int64_t request, int pos) {
    TokenTelemetry t;
    t.request_id = request;
    t.pos = pos;
    t.piece = " w" + std::to_string(request) + "_" + std::to_string(pos);
    t.phase = engine::Phase::Decode;
    t.dominant_expert = pos % 4;
    return t;
  };
  const int64_t n_requests = static_cast<int64_t>(PromptConsole::kMaxRequests) + 6;
  for (int64_t r = 1; r <= n_requests; ++r) {
    console.on_request_started(r, QStringLiteral("prompt %1").arg(r));
    console.append_tokens({tok(r, 0), tok(r, 1)});
    console.append_tokens({tok(r, 2)});
    RequestStats s;
    s.request_id = r;
    s.generated_tokens = 3;
    console.on_request_finished(s);
  }
  auto* history = console.findChild<QTextBrowser*>("history");
  const QString plain = history->toPlainText();
  // The latest kMaxRequests requests are kept whole; older ones are gone.
  const int64_t first_kept = n_requests - static_cast<int64_t>(PromptConsole::kMaxRequests) + 1;
  QVERIFY2(!plain.contains(QStringLiteral("(request %1)").arg(first_kept - 1)), qPrintable(plain));
  QVERIFY(plain.startsWith(QStringLiteral("You (request %1): prompt %1").arg(first_kept)));
  QVERIFY(plain.contains(QStringLiteral("(request %1)").arg(n_requests)));
  QCOMPARE(console.tokens().size(), PromptConsole::kMaxRequests * 3);
  QCOMPARE(console.tokens().front().request_id, first_kept);
  QCOMPARE(console.tokens().back().request_id, n_requests);

  // Links still name their token after the trim: a token's number counts every token
  // streamed, and tokens() holds the kept ones.
  QTextDocument* doc = history->document();
  const int64_t dropped = (first_kept - 1) * 3;
  const QTextFragment f = fragment_with_href(doc, QStringLiteral("tok:%1").arg(dropped + 4));
  QVERIFY(f.isValid());
  QCOMPARE(f.text(), QString::fromStdString(console.tokens()[4].piece));
  QVERIFY(!fragment_with_href(doc, QStringLiteral("tok:%1").arg(dropped - 1)).isValid());
  QSignalSpy spy(&console, &PromptConsole::token_selected);
  console.select_token(4);
  QCOMPARE(spy.count(), 1);
  QCOMPARE(spy.at(0).at(0).value<TokenTelemetry>().pos, console.tokens()[4].pos);
  // The selection underlines exactly that token's text.
  const QTextFragment selected = fragment_with_href(doc, QStringLiteral("tok:%1").arg(dropped + 4));
  QVERIFY(selected.charFormat().fontUnderline());
  QVERIFY(!fragment_with_href(doc, QStringLiteral("tok:%1").arg(dropped + 5))
               .charFormat()
               .fontUnderline());
}

void TestViews::expert_colors_distinct() {
  // Golden-angle stepping: expert e has hue e * 137.508 degrees (mod 360).
  const double hues[] = {0, 137.508, 275.016, 52.523, 190.031};
  for (int e = 0; e < 5; ++e) {
    const QColor c = PromptConsole::expert_color(e, 64);
    QVERIFY2(std::abs(c.hueF() * 360 - hues[e]) < 0.5 || (e == 0 && c.hueF() * 360 > 359.5),
             qPrintable(QString::number(c.hueF() * 360)));
    QVERIFY(c.saturation() > 100);
  }
  // Any two of 16 experts differ clearly in hue or brightness.
  for (int a = 0; a < 16; ++a) {
    for (int b = a + 1; b < 16; ++b) {
      const QColor ca = PromptConsole::expert_color(a, 16), cb = PromptConsole::expert_color(b, 16);
      const int dh = std::abs(ca.hue() - cb.hue());
      QVERIFY(std::min(dh, 360 - dh) >= 8 || std::abs(ca.value() - cb.value()) >= 25);
    }
  }
  QCOMPARE(PromptConsole::expert_color(-1, 8), PromptConsole::expert_color(8, 8));  // invalid: grey
  QCOMPARE(PromptConsole::expert_color(-1, 8).saturation(), 0);
}

void TestViews::plot_export_formats() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  MemoryPlotView view;
  view.append(
      {MemoryPoint{0, 1 << 20, 2 << 20, 0, 4 << 20}, MemoryPoint{1, 1 << 20, 3 << 20, 0, 4 << 20}});
  view.replot_if_dirty();

  const QString png = dir.filePath("m.png"), svg = dir.filePath("m.svg"),
                pdf = dir.filePath("m.PDF");
  QCOMPARE(export_plot(view.plot(), png, 800, 400), QString());
  QCOMPARE(export_plot(view.plot(), svg, 800, 400), QString());
  QCOMPARE(export_plot(view.plot(), pdf), QString());
  const QByteArray png_bytes = read_all(png);
  QVERIFY(png_bytes.startsWith("\x89PNG\r\n\x1a\n"));
  const QImage image = QImage::fromData(png_bytes, "PNG");
  QCOMPARE(image.size(), QSize(800, 400));
  const QByteArray svg_bytes = read_all(svg);
  QVERIFY(svg_bytes.startsWith("<?xml") || svg_bytes.startsWith("<svg"));
  QVERIFY(svg_bytes.contains("<svg"));
  QVERIFY(svg_bytes.size() > 1000);
  const QByteArray pdf_bytes = read_all(pdf);
  QVERIFY(pdf_bytes.startsWith("%PDF"));
  QVERIFY(pdf_bytes.size() > 1000);

  const QString bad_ext = export_plot(view.plot(), dir.filePath("m.bmp"));
  QVERIFY(bad_ext.contains("unknown file type"));
  QVERIFY(!QFile::exists(dir.filePath("m.bmp")));
  for (const char* name : {"missing/m.png", "missing/m.svg", "missing/m.pdf"}) {
    const QString err = export_plot(view.plot(), dir.filePath(name));
    QVERIFY2(!err.isEmpty() && err.contains("missing"), qPrintable(err));
  }
  QVERIFY(!export_plot(nullptr, png).isEmpty());
}

void TestViews::report_html_and_pdf() {
  QTemporaryDir dir;
  QVERIFY(dir.isValid());
  LatencyPlotView latency;
  latency.add_requests({request(100, 900, 200.0, 1000.0), request(300, 700, 250.0, 800.0)});
  latency.replot_if_dirty();
  const QImage image = render_plot(latency.plot(), 640, 320);
  QCOMPARE(image.size(), QSize(640, 320));

  ReportContent report;
  report.title = "Run <1> & co";
  report.subtitle = "demo model, 50% budget";
  report.tables.push_back(ReportTable{"Configurations",
                                      {"config", "hit rate", "TTFT p50 (ms)"},
                                      {{"lru", "83.5%", "120"}, {"emoe <p=2>", "91.0%", "95"}}});
  report.tables.push_back(ReportTable{"Requests", {"id", "task"}, {{"1", "qa"}, {"2", "code"}}});
  report.plots.emplace_back("Latency", image);

  const QString html_path = dir.filePath("report.html");
  QCOMPARE(write_report_html(report, html_path), QString());
  const QString html = QString::fromUtf8(read_all(html_path));
  QVERIFY(html.startsWith("<!DOCTYPE html>"));
  QVERIFY(html.contains("<title>Run &lt;1&gt; &amp; co</title>"));
  QCOMPARE(html.count("<table"), 2);
  QVERIFY(html.contains("<th>config</th>"));
  QVERIFY(html.contains("emoe &lt;p=2&gt;"));
  QVERIFY(html.contains("91.0%"));
  QVERIFY(!html.contains("<1>"));
  QVERIFY(html.contains("<style>"));  // self-contained: inline CSS, no external links
  QVERIFY(!html.contains("<link"));
  const QString marker = "<img src=\"data:image/png;base64,";
  const qsizetype at = html.indexOf(marker);
  QVERIFY(at >= 0);
  const qsizetype begin = at + marker.size();
  const QByteArray b64 = html.mid(begin, html.indexOf('"', begin) - begin).toLatin1();
  const QImage embedded = QImage::fromData(QByteArray::fromBase64(b64), "PNG");
  QCOMPARE(embedded.size(), QSize(640, 320));

  // The PDF is written off the GUI thread.
  const QString pdf_path = dir.filePath("report.pdf");
  QFuture<QString> future = QtConcurrent::run([&] { return write_report_pdf(report, pdf_path); });
  QCOMPARE(future.result(), QString());
  const QByteArray pdf = read_all(pdf_path);
  QVERIFY(pdf.startsWith("%PDF"));
  QVERIFY2(pdf.size() > 8 * 1024, qPrintable(QString::number(pdf.size())));
  // Atomic writes leave nothing else behind.
  QCOMPARE(QDir(dir.path()).entryList(QDir::Files).size(), 2);

  QVERIFY(!write_report_html(report, dir.filePath("missing/report.html")).isEmpty());
  QVERIFY(!write_report_pdf(report, dir.filePath("missing/report.pdf")).isEmpty());
}

QTEST_MAIN(TestViews)
#include "test_views.moc"
