#include "ui/session_report.h"

#include <QDateTime>
#include <QFileInfo>
#include <algorithm>
#include <numeric>

#include "ui/controls_panel.h"

namespace emoe::ui {
namespace {

QString ms(double v) { return QString::number(v, 'f', 1); }

}  // namespace

ReportContent build_session_report(const SessionReportInputs& in) {
  ReportContent r;
  r.title = QObject::tr("eMoE Studio session report");
  const QString model = in.model ? in.model->name : QObject::tr("no model");
  r.subtitle =
      QObject::tr("%1 — session %2 — %3")
          .arg(model)
          .arg(in.session_id > 0 ? QString::number(in.session_id) : QObject::tr("not recorded"))
          .arg(QDateTime::currentDateTime().toString(Qt::ISODate));

  ReportTable summary{QObject::tr("Summary"), {QObject::tr("Metric"), QObject::tr("Value")}, {}};
  const auto add = [&](const QString& k, const QString& v) { summary.rows.push_back({k, v}); };
  if (in.model) {
    add(QObject::tr("Model"),
        QStringLiteral("%1 (%2, %3)")
            .arg(in.model->name, in.model->arch, QFileInfo(in.model->path).fileName()));
    add(QObject::tr("Shape"), QObject::tr("%1 layers, %2 experts (top-%3)")
                                  .arg(in.model->n_layer)
                                  .arg(in.model->n_expert)
                                  .arg(in.model->n_expert_used));
  }
  if (in.engine) {
    const EngineReport& e = *in.engine;
    add(QObject::tr("Routing"),
        QString::fromLatin1(engine::routing_mode_name(e.settings.mode).data()));
    add(QObject::tr("Expert budget"),
        e.expert_budget_bytes == 0
            ? QObject::tr("no device tier (all experts)")
            : QObject::tr("%1 of %2 (%3 per layer)")
                  .arg(format_bytes(e.expert_budget_bytes), format_bytes(e.all_expert_bytes))
                  .arg(e.experts_per_layer));
    add(QObject::tr("Eviction policy"),
        QString::fromLatin1(experts::policy_name(e.settings.policy)));
    add(QObject::tr("Threads"), QString::number(e.settings.n_threads));
  }
  int64_t generated = 0, prompt = 0;
  double ttft = 0, e2e = 0, tok_s = 0;
  for (const RequestStats& q : in.requests) {
    generated += q.generated_tokens;
    prompt += q.prompt_tokens;
    ttft += q.ttft_ms;
    e2e += q.e2e_ms;
    tok_s += q.decode_tok_s;
  }
  const double n = std::max<double>(1, static_cast<double>(in.requests.size()));
  add(QObject::tr("Requests"), QString::number(in.requests.size()));
  add(QObject::tr("Prompt / generated tokens"),
      QStringLiteral("%1 / %2").arg(prompt).arg(generated));
  add(QObject::tr("Mean time to first token"), ms(ttft / n) + " ms");
  add(QObject::tr("Mean end-to-end latency"), ms(e2e / n) + " ms");
  add(QObject::tr("Mean decode speed"), QString::number(tok_s / n, 'f', 1) + " tok/s");
  add(QObject::tr("SLO attainment"), in.slo_attainment < 0
                                         ? QObject::tr("no SLOs set")
                                         : QString::number(in.slo_attainment * 100, 'f', 1) + " %");
  uint64_t peak = 0, peak_experts = 0, budget = 0;
  for (const MemoryPoint& p : in.memory) {
    peak = std::max(peak, p.dense_bytes + p.expert_bytes + p.kv_bytes);
    peak_experts = std::max(peak_experts, p.expert_bytes);
    budget = std::max(budget, p.expert_budget);
  }
  if (!in.memory.empty()) {
    add(QObject::tr("Peak device memory"), format_bytes(peak));
    add(QObject::tr("Peak resident experts"),
        format_bytes(peak_experts) +
            (budget > 0 ? QObject::tr(" (budget %1)").arg(format_bytes(budget)) : QString()));
  }
  r.tables.push_back(std::move(summary));

  ReportTable requests{QObject::tr("Requests"),
                       {QObject::tr("Id"), QObject::tr("Task"), QObject::tr("Prompt"),
                        QObject::tr("Tokens in/out"), QObject::tr("TTFT ms"), QObject::tr("E2E ms"),
                        QObject::tr("Decode tok/s"), QObject::tr("Stop")},
                       {}};
  for (const RequestStats& q : in.requests) {
    QString text = QString::fromStdString(q.prompt);
    if (text.size() > 60) text = text.left(57) + "...";
    requests.rows.push_back({QString::number(q.request_id), QString::fromStdString(q.task), text,
                             QStringLiteral("%1/%2").arg(q.prompt_tokens).arg(q.generated_tokens),
                             ms(q.ttft_ms), ms(q.e2e_ms), QString::number(q.decode_tok_s, 'f', 1),
                             QString::fromStdString(q.error.empty() ? q.stop_reason : q.error)});
  }
  r.tables.push_back(std::move(requests));

  if (in.n_layer > 0 && in.n_expert > 0 &&
      in.counts.size() == static_cast<size_t>(in.n_layer) * static_cast<size_t>(in.n_expert)) {
    ReportTable top{
        QObject::tr("Most used experts per layer"),
        {QObject::tr("Layer"), QObject::tr("Tokens x top-k"), QObject::tr("Top experts (share)")},
        {}};
    for (int32_t l = 0; l < in.n_layer; ++l) {
      const auto first = in.counts.begin() + static_cast<ptrdiff_t>(l) * in.n_expert;
      const int64_t total = std::accumulate(first, first + in.n_expert, int64_t{0});
      std::vector<int32_t> order(static_cast<size_t>(in.n_expert));
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(),
                       [&](int32_t a, int32_t b) { return first[a] > first[b]; });
      QStringList best;
      for (size_t i = 0; i < std::min<size_t>(3, order.size()); ++i) {
        if (first[order[i]] == 0) break;
        best << QStringLiteral("%1 (%2%)")
                    .arg(order[i])
                    .arg(100.0 * static_cast<double>(first[order[i]]) /
                             static_cast<double>(std::max<int64_t>(total, 1)),
                         0, 'f', 1);
      }
      top.rows.push_back({QString::number(l), QString::number(total), best.join(", ")});
    }
    r.tables.push_back(std::move(top));
  }
  r.plots = in.plots;
  return r;
}

}  // namespace emoe::ui
